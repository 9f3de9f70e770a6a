// Sizes as people type them on a command line (`50G`, `512M`, `2GiB`, bytes): binary units, whole bytes.

const units: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** The byte count of `100M`, `2G`, `2GiB` or `12345`; undefined for anything else (0 and negatives included). */
export function parseByteSize(value: string): number | undefined {
  const m = /^([1-9][0-9]{0,15})\s*(?:([KMGT])(?:i?B)?)?$/i.exec(value.trim());
  const bytes = m ? Number(m[1]) * (units[(m[2] ?? "").toUpperCase()] ?? 1) : Number.NaN;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * Nix's own base-32 ("nix32"), used in store paths and `sha256:<…>` hashes.
 *
 * It is not RFC 4648: the alphabet drops e, o, u, t (so hashes spell no words), and the
 * string is written from the last byte backwards, 5 bits per character (Nix's printHash32).
 */

export const NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

const DIGIT_OF = new Map<string, number>([...NIX32_ALPHABET].map((c, i) => [c, i]));

/** Raised for a string that is not the nix32 encoding of any byte string. */
export class Nix32DecodeError extends Error {
  override name = "Nix32DecodeError";
}

/** Characters needed for `byteLength` bytes: 32 → 52 (sha256), 20 → 32 (store-path hash). */
export function nix32Length(byteLength: number): number {
  return Math.ceil((byteLength * 8) / 5);
}

export function encodeNix32(bytes: Uint8Array): string {
  const len = nix32Length(bytes.length);
  let out = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const lo = (bytes[i] ?? 0) >> j;
    const hi = i + 1 < bytes.length ? (bytes[i + 1] ?? 0) << (8 - j) : 0;
    out += NIX32_ALPHABET[(lo | hi) & 0x1f];
  }
  return out;
}

/**
 * Decodes nix32; the byte length follows from the string length (52 → 32, 32 → 20).
 * Rejects lengths no byte string encodes to and set bits beyond the last byte, as Nix does,
 * so every accepted string has exactly one spelling.
 */
export function decodeNix32(s: string): Buffer {
  const size = Math.floor((s.length * 5) / 8);
  if (nix32Length(size) !== s.length) {
    throw new Nix32DecodeError(`invalid nix32 length ${s.length} in '${s}'`);
  }
  const out = Buffer.alloc(size);
  for (let n = 0; n < s.length; n++) {
    const c = s[s.length - n - 1] as string;
    const digit = DIGIT_OF.get(c);
    if (digit === undefined) throw new Nix32DecodeError(`invalid nix32 character '${c}' in '${s}'`);
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i] = (out[i] as number) | ((digit << j) & 0xff);
    const carry = digit >> (8 - j);
    if (i + 1 < size) out[i + 1] = (out[i + 1] as number) | carry;
    else if (carry) throw new Nix32DecodeError(`nix32 string '${s}' has bits beyond its ${size} bytes`);
  }
  return out;
}

/** True when `s` decodes as nix32 (optionally to exactly `byteLength` bytes). */
export function isNix32(s: string, byteLength?: number): boolean {
  if (byteLength !== undefined && s.length !== nix32Length(byteLength)) return false;
  try {
    decodeNix32(s);
    return true;
  } catch {
    return false;
  }
}

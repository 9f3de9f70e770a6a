// Byte counts as people read them (`1.5 KiB`, `12.3 MiB`), for pages and status lines: pretty-bytes, binary units.
import prettyBytes from "pretty-bytes";

/** 1536 → `1.5 KiB`: three significant digits, powers of 1024. */
export function formatBytes(n: number): string {
  return prettyBytes(n, { binary: true });
}

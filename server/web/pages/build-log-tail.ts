// The end of a build's log as HTML, shown first on the build page; SSE carries on from its offset.
import type { BuildLog } from "../../builds/build-log.js";
import { AnsiHtml } from "../ansi.js";

/** The page shows at most this much of a log's end; the raw log has it all. */
export const LOG_TAIL_BYTES = 512 * 1024;

/** The end of the log as HTML: whole lines only while the build runs (the rest comes over SSE from `offset`). */
export async function logTail(
  log: BuildLog,
  finished: boolean,
): Promise<{ html: string; offset: number; skipped: number }> {
  const { size } = await log.stat();
  let start = Math.max(0, size - LOG_TAIL_BYTES);
  const chunks: Buffer[] = [];
  for (let at = start; at < size; ) {
    const chunk = await log.readFrom(at);
    if (chunk.length === 0) break;
    chunks.push(chunk);
    at += chunk.length;
  }
  let buf = Buffer.concat(chunks);
  if (start > 0) {
    const nl = buf.indexOf(10);
    buf = nl >= 0 ? buf.subarray(nl + 1) : Buffer.alloc(0);
    start = size - buf.length;
  }
  const end = finished ? buf.length : buf.lastIndexOf(10) + 1;
  return {
    html: new AnsiHtml().lines(buf.subarray(0, end).toString("utf8")),
    offset: start + end,
    skipped: start,
  };
}

// A build log as an HTTP answer that never lies about being whole. Its first piece is read before the 200 goes out, so
// an object store or database that is away answers 503 (with its message) instead of a 200 with an empty log; a
// failure after that breaks the connection instead of ending the answer cleanly, so a reader sees a cut stream and
// resumes from its offset (`flox log -f` does) rather than taking half a log for all of it.
import { RECHECK_MS, type Signals } from "../db/signals.js";
import type { BuildLog } from "./build-log.js";

export interface LogStreamOptions {
  log: BuildLog;
  offset: number;
  /** Followed: new bytes as they arrive, until `finished()` and every byte was sent. */
  follow?: { finished: () => Promise<boolean>; signals: Signals; buildId: number };
  /** The client went away. */
  signal: AbortSignal;
}

/** Reads the first piece (throwing what the store or database throws), then answers the body. */
export async function logStream(o: LogStreamOptions): Promise<ReadableStream<Uint8Array>> {
  let offset = o.offset;
  let first: Buffer | undefined = await o.log.readFrom(offset);
  offset += first.length;
  const gone = new AbortController();
  const stop = AbortSignal.any([o.signal, gone.signal]);
  const next = async (): Promise<Buffer | undefined> => {
    for (;;) {
      // Finished is asked before the read: a build that ends between the two still has its last bytes read.
      const finished = o.follow ? await o.follow.finished() : true;
      const chunk = await o.log.readFrom(offset);
      if (chunk.length > 0) {
        offset += chunk.length;
        return chunk;
      }
      if (finished || stop.aborted || !o.follow) return undefined;
      await o.follow.signals.next(["log", "build"], RECHECK_MS, stop, o.follow.buildId);
    }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = first?.length ? first : await next();
        first = undefined;
        if (chunk) controller.enqueue(new Uint8Array(chunk));
        else controller.close();
      } catch (err) {
        controller.error(err);
      }
    },
    cancel() {
      gone.abort();
    },
  });
}

// The main thread's side of nar-worker.ts: one long-lived worker thread, many fetches at once. Bytes go
// to it as they come off the socket, gathered into 1 MiB batches, with flow control (at most a few MiB
// unacknowledged per fetch), so a fast server cannot fill memory and a slow disk slows the download instead.
import type { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import type { FromWorker, JobStart, ToWorker } from "./nar-worker.js";

const UNACKED_LIMIT = 4 << 20;
/**
 * A batch: the socket gives ~64 KiB at a time, and a message per socket chunk cost more than the unpacking
 * (bench/README.md, the agent's whole-NAR fetch). The batch buffers move to the worker and back (a pool).
 */
const BATCH_BYTES = 1 << 20;
/** Buffers kept for reuse across fetches (the rest are left to the GC). */
const POOL_MAX = 16;

interface Job {
  resolve(r: { sha256?: string; size?: number }): void;
  reject(err: Error): void;
  onAck(bytes: number): void;
}

/** Omit, kind by kind of a union (a plain Omit of a union keeps only the fields all kinds share). */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A job as the caller describes it: its id is given here. */
type JobSpec = OmitEach<JobStart, "id">;

export class OffThread {
  #worker: Worker | undefined;
  readonly #jobs = new Map<number, Job>();
  readonly #pool: ArrayBuffer[] = [];
  #nextId = 1;

  /** Decompresses, verifies (NarHash, NarSize) and unpacks a NAR file's bytes into `target`. */
  async unpack(
    body: Readable,
    job: { compression: string; target: string; narHash: Uint8Array; narSize: number },
  ): Promise<void> {
    await this.#run(body, { type: "nar", ...job });
  }

  /** Writes the bytes to `target` (a new file), giving their nix32 sha256 and count. */
  async writeFile(body: Readable, target: string): Promise<{ sha256: string; size: number }> {
    const r = await this.#run(body, { type: "file", target });
    return { sha256: r.sha256 ?? "", size: r.size ?? 0 };
  }

  /**
   * Starts the worker ahead of the first fetch (its start-up is then off a user's first open), and fills the
   * pool with as many batch buffers as one fetch keeps in flight, written once: copying into a fresh 1 MiB
   * buffer page-faults it in (~5–10 ms per MiB measured here), a reused one does not.
   */
  start(): void {
    this.#ensure();
    while (this.#pool.length < UNACKED_LIMIT / BATCH_BYTES + 2)
      this.#pool.push(Buffer.alloc(BATCH_BYTES).buffer as ArrayBuffer);
  }

  async close(): Promise<void> {
    await this.#worker?.terminate();
    this.#worker = undefined;
  }

  #post(msg: ToWorker): void {
    this.#ensure().postMessage(msg);
  }

  #ensure(): Worker {
    if (this.#worker) return this.#worker;
    const w = new Worker(new URL("./nar-worker.js", import.meta.url));
    // It never keeps the process alive: a fetch in flight does that through its socket.
    w.unref();
    w.on("message", (msg: FromWorker) => {
      const job = this.#jobs.get(msg.id);
      if (msg.type === "ack") {
        if (msg.buffer?.byteLength === BATCH_BYTES && this.#pool.length < POOL_MAX)
          this.#pool.push(msg.buffer);
        return job?.onAck(msg.bytes);
      }
      if (!job) return;
      this.#jobs.delete(msg.id);
      if (msg.type === "done") return job.resolve(msg);
      job.reject(
        Object.assign(new Error(msg.message), { name: msg.name, ...(msg.code ? { code: msg.code } : {}) }),
      );
    });
    const failAll = (err: Error) => {
      this.#worker = undefined;
      for (const job of this.#jobs.values()) job.reject(err);
      this.#jobs.clear();
    };
    w.on("error", failAll);
    w.on("exit", (code) => failAll(new Error(`the fetch worker exited (${code})`)));
    this.#worker = w;
    return w;
  }

  /** A buffer to fill: one back from the worker, or a new one (not zeroed: it is written before it is read). */
  #batchBuffer(): Buffer {
    const reused = this.#pool.pop();
    return reused ? Buffer.from(reused) : Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  #run(body: Readable, spec: JobSpec): Promise<{ sha256?: string; size?: number }> {
    const id = this.#nextId++;
    let unacked = 0;
    let bodyError: Error | undefined;
    return new Promise((resolve, reject) => {
      this.#jobs.set(id, {
        resolve,
        // After a download error the worker's own answer comes once it has stopped writing: only then
        // may the caller remove what it wrote.
        reject: (err) => {
          body.destroy();
          reject(bodyError ?? err);
        },
        onAck: (bytes) => {
          unacked -= bytes;
          if (unacked < UNACKED_LIMIT / 2 && body.isPaused()) body.resume();
        },
      });
      this.#ensure().postMessage({ ...spec, id } satisfies ToWorker);
      // The batch being filled: our own copy (a socket chunk may be a view on a bigger buffer), moved (not
      // cloned) to the worker once full or at the end.
      let batch: Buffer | undefined;
      let filled = 0;
      const flush = () => {
        if (!batch || filled === 0) return;
        const buffer = batch.buffer as ArrayBuffer;
        this.#ensure().postMessage({ type: "chunk", id, buffer, bytes: filled } satisfies ToWorker, [buffer]);
        unacked += filled;
        batch = undefined;
        filled = 0;
      };
      body.on("data", (chunk: Buffer) => {
        for (let off = 0; off < chunk.length; ) {
          batch ??= this.#batchBuffer();
          const n = chunk.copy(batch, filled, off);
          filled += n;
          off += n;
          if (filled === BATCH_BYTES) flush();
        }
        if (unacked >= UNACKED_LIMIT) body.pause();
      });
      body.once("end", () => {
        flush();
        this.#post({ type: "end", id });
      });
      body.once("error", (err) => {
        bodyError = err;
        if (this.#jobs.has(id)) this.#post({ type: "abort", id });
      });
    });
  }
}

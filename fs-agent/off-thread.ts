// The main thread's side of nar-worker.ts: one long-lived worker thread, many fetches at once. Bytes go
// to it as they come off the socket, with flow control (at most a few MiB unacknowledged per fetch), so a
// fast server cannot fill memory and a slow disk slows the download instead.
import type { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import type { FromWorker, JobStart, ToWorker } from "./nar-worker.js";

const UNACKED_LIMIT = 4 << 20;

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

  /** Starts the worker ahead of the first fetch (its start-up is then off a user's first open). */
  start(): void {
    this.#ensure();
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
      if (!job) return;
      if (msg.type === "ack") return job.onAck(msg.bytes);
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
      body.on("data", (chunk: Buffer) => {
        unacked += chunk.length;
        // A copy of our own, moved (not cloned) to the worker: a chunk may be a view on a bigger buffer.
        const own = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength).slice();
        this.#ensure().postMessage({ type: "chunk", id, chunk: own } satisfies ToWorker, [own.buffer]);
        if (unacked >= UNACKED_LIMIT) body.pause();
      });
      body.once("end", () => this.#post({ type: "end", id }));
      body.once("error", (err) => {
        bodyError = err;
        if (this.#jobs.has(id)) this.#post({ type: "abort", id });
      });
    });
  }
}

// node-git-server spawns `git receive-pack` and wires the request into its stdin and its stdout into the response
// with no error handling of its own: git refusing a pack (or a full disk) while the client still sends is an EPIPE
// on its stdin, which used to end the server. This watches that process for the rest of the request.
import type { ChildProcess } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { plainAnswer } from "./plain-answer.js";

type End = (...args: unknown[]) => ServerResponse;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export class ReceivePackRun {
  readonly #res: ServerResponse;
  readonly #logger: Logger;
  readonly #end: End;
  #outcome: Outcome | null = null;
  /** The arguments of a `res.end` that came before git's exit. */
  #heldEnd: unknown[] | null = null;
  #stderr = "";
  readonly #discardRest: () => void;

  /**
   * `req` is the client's own request (not node-git-server's stand-in): whether its body is complete.
   * `discardRest` is called when git exits: what it did not read goes nowhere, and the client may finish sending.
   */
  constructor(
    readonly child: ChildProcess,
    req: IncomingMessage,
    res: ServerResponse,
    logger: Logger,
    discardRest: () => void,
  ) {
    this.#res = res;
    this.#discardRest = discardRest;
    this.#logger = logger;
    // git stops reading once it has refused the pack; what it answers on stdout says why, and the rest is dropped.
    child.stdin?.on("error", (err) => logger.info({ err: err.message }, "git receive-pack stopped reading"));
    child.stdout?.on("error", (err) => logger.warn({ err: err.message }, "git receive-pack output failed"));
    // Read, or a chatty git would block on a full stderr pipe; kept for the log.
    child.stderr?.setEncoding("utf8").on("data", (c: string) => {
      if (this.#stderr.length < 4000) this.#stderr += c;
    });
    child.on("error", (error) => this.#exited({ code: null, signal: null, error }));
    child.on("exit", (code, signal) => this.#exited({ code, signal }));
    // A client gone mid-pack would leave git waiting for the rest forever. Once the body is complete, git and its
    // hooks finish the push whoever listens (a `-o wait` hook stops by itself when its client left).
    const clientGone = () => {
      if (!req.complete && child.exitCode === null && child.signalCode === null) child.kill();
    };
    if (res.destroyed) clientGone();
    else res.once("close", clientGone);
    // node-git-server ends the response when git's stdout ends; whether git ended well is known only at its exit.
    this.#end = res.end.bind(res) as End;
    res.end = ((...args: unknown[]) => {
      if (this.#outcome) this.#finish(args);
      else this.#heldEnd = args;
      return res;
    }) as ServerResponse["end"];
  }

  /** Answers 500 with `message`, or cuts the connection when the answer has begun (the client sees it broken). */
  fail(message: string): void {
    const res = this.#res;
    res.end = this.#end as ServerResponse["end"];
    if (res.writableEnded || res.destroyed) return;
    if (res.headersSent) res.destroy();
    else plainAnswer(res, 500, message);
  }

  #exited(outcome: Outcome): void {
    if (this.#outcome) return;
    this.#outcome = outcome;
    // A killed receive-pack leaves its index-pack reading our pipe; the end of it ends that one too.
    this.child.stdin?.destroy();
    this.#discardRest();
    if (this.#heldEnd) this.#finish(this.#heldEnd);
  }

  #finish(args: unknown[]): void {
    const { code, signal, error } = this.#outcome as Outcome;
    const res = this.#res;
    // A non-zero exit after git's own report (an unpack error, say): the report tells the client.
    if (!error && signal === null && (code === 0 || res.headersSent)) {
      res.end = this.#end as ServerResponse["end"];
      this.#end(...args);
      return;
    }
    const how = error
      ? `could not start (${error.message})`
      : signal
        ? `was killed (${signal})`
        : `exited ${code}`;
    this.#logger.warn(
      { pid: this.child.pid, code, signal, err: error, stderr: this.#stderr },
      `git receive-pack ${how}`,
    );
    this.fail(
      `git receive-pack on the server ended before answering (it ${how}); the push may not have been applied: check with \`git ls-remote\`, then push again`,
    );
  }
}

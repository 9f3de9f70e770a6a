// node-git-server re-emits every 'error' of the request it is given on an object we only get hold of once git is
// about to start; a client that goes away before then (ECONNRESET "aborted") would be an unhandled 'error' event,
// which ends the process. So it gets a stand-in for the request instead, whose failures we handle here.
import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";

export interface StandIn {
  request: IncomingMessage;
  /** Stops passing the body on and reads the rest of it into nothing, so the client can finish sending. */
  discardRest(): void;
}

/**
 * A stream carrying `req`'s body, method, URL and headers, which never emits 'error': when `req` fails,
 * `onError` hears of it and the stand-in is destroyed quietly (its readers see 'close', never 'end').
 */
export function requestStandIn(req: IncomingMessage, onError: (err: Error) => void): StandIn {
  const body = new PassThrough();
  Object.assign(body, {
    method: req.method,
    url: req.url,
    headers: req.headers,
    httpVersion: req.httpVersion,
  });
  req.on("error", (err) => {
    onError(err);
    body.destroy();
  });
  req.pipe(body);
  return {
    request: body as unknown as IncomingMessage,
    discardRest() {
      req.unpipe(body);
      body.destroy();
      req.resume();
    },
  };
}

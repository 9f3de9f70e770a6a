// A GET whose body is a plain Node stream, for NAR downloads: `fetch`'s web-stream body cost the agent about
// twice the CPU per NAR byte of `node:http` (bench/README.md, "The agent's whole-NAR fetch on node:http"), and
// the worker pipeline behind it wants a Readable anyway. Follows redirects as fetch does (a `--nar-redirect`
// server answers 307 to a presigned object-store URL), never carrying the token to another origin.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

export interface StreamAnswer {
  status: number;
  header(name: string): string | undefined;
  body: IncomingMessage;
}

const MAX_REDIRECTS = 5;

function once(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, { headers, signal }, resolve);
    req.once("error", reject);
    req.end();
  });
}

/** GET `url`; the answer after redirects. The caller reads or destroys `body`. */
export async function streamGet(
  url: string,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<StreamAnswer> {
  let at = new URL(url);
  let sending = headers;
  for (let hop = 0; ; hop++) {
    const res = await once(at, sending, signal);
    const location = res.headers.location;
    const status = res.statusCode ?? 0;
    if (!(status >= 301 && status <= 308 && status !== 304 && location) || hop === MAX_REDIRECTS) {
      return {
        status,
        header: (name) => {
          const v = res.headers[name.toLowerCase()];
          return Array.isArray(v) ? v.join(", ") : v;
        },
        body: res,
      };
    }
    res.resume(); // the redirect's own body, if any, is not wanted
    const next = new URL(location, at);
    if (next.origin !== at.origin) {
      const { authorization: _dropped, ...rest } = sending;
      sending = rest;
    }
    at = next;
  }
}

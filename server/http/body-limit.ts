// Bounds how much of a request body a route reads. Called where the handler reads the body (after the token and
// role checks), so a caller who may not use a route never has a byte of it read; hono's bodyLimit refuses a
// declared Content-Length over the limit at once and stops a chunked body as soon as it passes the limit.
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PayloadTooLargeError } from "../errors.js";

/** Every JSON body of the API: the largest real one (a profile install of many refs) is a few KiB. */
export const JSON_BODY_LIMIT = 1024 * 1024;
/** The web pages' forms: a token, a CSRF token, a few names. */
export const FORM_BODY_LIMIT = 64 * 1024;

/** Requests whose body was checked already (a form read by the CSRF check and again by its page). */
const checked = new WeakSet<Request>();

const human = (bytes: number) =>
  bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${Math.round(bytes / 1024)} KiB`;

/**
 * Refuses (PayloadTooLargeError, 413) a body over `maxSize` bytes before reading more than that. `what` names the
 * body and `advice` says what to send instead, for the message.
 */
export async function limitBody(c: Context, maxSize: number, what: string, advice: string): Promise<void> {
  if (checked.has(c.req.raw)) return;
  await bodyLimit({
    maxSize,
    onError: () => {
      throw new PayloadTooLargeError(
        `${what} is larger than the ${human(maxSize)} (${maxSize} bytes) this server accepts here; ${advice}`,
      );
    },
  })(c, async () => {});
  // bodyLimit replaces the request with a buffered copy when it had to count a chunked body.
  checked.add(c.req.raw);
}

/** A web form's fields, at most FORM_BODY_LIMIT bytes of them. */
export async function formBody(c: Context): Promise<Record<string, string | File>> {
  await limitBody(
    c,
    FORM_BODY_LIMIT,
    "the form",
    "forms on these pages are small; reload the page and send it again",
  );
  return (await c.req.parseBody()) as Record<string, string | File>;
}

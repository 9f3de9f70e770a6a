// The HTTP API v1: the error body every failed request answers with, and the errors the client throws.
import { z } from "zod";

/** Every error answer: `{"error": {"code": "snake_case", "message": "..."}}`. */
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** The server answered with an error status; `message` is the server's own explanation. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly url: string,
  ) {
    super(message);
  }
}

/** The request never got an answer: nothing listening, DNS, TLS, timeout. */
export class ApiUnreachableError extends Error {
  override name = "ApiUnreachableError";
  constructor(
    readonly server: string,
    readonly reason: string,
  ) {
    super(`cannot reach the flox server at ${server}: ${reason} — is \`flox server\` running?`);
  }
}

/** The server answered 2xx but not with what the API promises (a different version, or not a flox server). */
export class ApiResponseError extends Error {
  override name = "ApiResponseError";
}

/** The API's error body in an answer's text, or undefined when the text is something else (a proxy's page). */
export function parseErrorBody(text: string): ErrorBody["error"] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = ErrorBody.safeParse(json);
  return parsed.success ? parsed.data.error : undefined;
}

/** `HTTP <status>`, and the server's message when the answer is the API's error body. */
export function describeErrorAnswer(status: number, text: string): string {
  const error = parseErrorBody(text);
  return error?.message ? `HTTP ${status}: ${error.message}` : `HTTP ${status}`;
}

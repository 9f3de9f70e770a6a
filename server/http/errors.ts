// The one place where errors become HTTP answers: `{"error": {"code", "message"}}` with a fitting status.
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorBody } from "../../lib/api/errors.js";
import { DatabaseDownError, isDatabaseDown } from "../db/unavailable.js";
import { isDiskFull } from "../disk-full.js";
import {
  ConflictError,
  DiskFullError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  PayloadTooLargeError,
  QuotaExceededError,
  StorageUnavailableError,
  UnauthenticatedError,
} from "../errors.js";

export interface HttpError {
  status: ContentfulStatusCode;
  body: ErrorBody;
}

const statuses: [new (...args: never[]) => Error & { code: string }, ContentfulStatusCode][] = [
  [InvalidInputError, 400],
  [UnauthenticatedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [ConflictError, 409],
  [PayloadTooLargeError, 413],
  [DiskFullError, 507],
  [DatabaseDownError, 503],
  [QuotaExceededError, 507],
  [StorageUnavailableError, 503],
];

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

/**
 * Maps a known error to its answer; anything else is a server fault (500) and gets logged by the caller.
 * A full disk is known wherever it comes from: 507 naming `dataDir`, the directory an admin must free.
 */
export function toHttpError(err: unknown, dataDir?: string): HttpError | undefined {
  if (!(err instanceof DiskFullError) && dataDir !== undefined && isDiskFull(err)) {
    err = new DiskFullError(dataDir);
  }
  if (!(err instanceof DatabaseDownError) && isDatabaseDown(err)) err = new DatabaseDownError();
  for (const [cls, status] of statuses) {
    if (err instanceof cls) return { status, body: errorBody(err.code, err.message) };
  }
  return undefined;
}

export function internalError(): HttpError {
  return {
    status: 500,
    body: errorBody(
      "internal_error",
      "the server failed while handling this request; the details are in its log (DATA_DIR/logs/server.log)",
    ),
  };
}

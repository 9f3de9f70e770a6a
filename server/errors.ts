// Errors the domain raises for users. Each maps to one HTTP status in server/http/errors.ts.
// Messages are shown to people as is: say what went wrong and what to do.

/** Something in the request is malformed or inconsistent (400). */
export class InvalidInputError extends Error {
  override name = "InvalidInputError";
  constructor(
    message: string,
    readonly code = "invalid_input",
  ) {
    super(message);
  }
}

/** No token, or one the server does not know or has revoked (401). */
export class UnauthenticatedError extends Error {
  override name = "UnauthenticatedError";
  constructor(
    message: string,
    readonly code = "unauthenticated",
  ) {
    super(message);
  }
}

/** The token is valid but may not do this (403). */
export class ForbiddenError extends Error {
  override name = "ForbiddenError";
  readonly code = "forbidden";
}

/** The named org, user, token, … does not exist (404). */
export class NotFoundError extends Error {
  override name = "NotFoundError";
  readonly code = "not_found";
}

/** The thing to create exists already, or the request clashes with current state (409). */
export class ConflictError extends Error {
  override name = "ConflictError";
  readonly code = "conflict";
}

/** A request body larger than the route accepts (413). The message says the limit and what to send instead. */
export class PayloadTooLargeError extends Error {
  override name = "PayloadTooLargeError";
  readonly code = "payload_too_large";
}

/** The object store holding NARs, logs and tarballs (`--nar-store`) does not answer (503): try again shortly. */
export class StorageUnavailableError extends Error {
  override name = "StorageUnavailableError";
  readonly code = "storage_unavailable";
}

/** The data dir's file system is full or over quota (507): nothing new can be stored until space is freed. */
export class DiskFullError extends Error {
  override name = "DiskFullError";
  readonly code = "disk_full";
  constructor(readonly dir: string) {
    super(
      `the server's disk is full (no space left in ${dir}); nothing can be stored until an admin frees space there — try again then`,
    );
  }
}

/** An org's Storehouse quota would be passed by an upload (507, like a full disk: nothing more fits for it). */
export class QuotaExceededError extends Error {
  override name = "QuotaExceededError";
  readonly code = "quota_exceeded";
}

// Errors the domain raises for users. Each maps to one HTTP status in server/http-errors.ts.
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

// The value sets the API and the database share (server/db/schema.ts makes its enum columns of them). Plain
// tuples without zod, so that the CLI's command tree can offer them as choices without loading zod.

/** An org role, weakest last: owner > member > reader. */
export const roles = ["owner", "member", "reader"] as const;

export const tokenScopes = ["admin", "org", "user", "builder", "machine"] as const;

/** How the server learnt of a push: from the post-receive hook, or by comparing refs with its records. */
export const pushSources = ["hook", "reconciled"] as const;

export const evaluationStates = ["queued", "running", "succeeded", "failed", "skipped"] as const;

export const buildStates = [
  "queued",
  "cached",
  "running",
  "succeeded",
  "failed",
  "dependency-failed",
  "cancelled",
  "timed-out",
  "aborted",
] as const;

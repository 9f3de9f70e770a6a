// Telling "the database is not there" apart from other faults: at start it is one clear line, while running a 503.
import type pg from "pg";
import { hidePassword } from "./database-url.js";

const downCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "ENOENT",
  "ETIMEDOUT",
  "EPIPE",
  "57P01", // admin_shutdown: PostgreSQL is stopping
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now: starting or stopping
  "08000",
  "08001",
  "08003",
  "08006",
]);

/** Set on errors that came out of the database driver (markDatabaseErrors): only those can mean "database down". */
const FROM_DATABASE = Symbol("flox.fromDatabase");

/**
 * Did this fail because the database server is gone or unreachable (as opposed to a bad query)? Only errors
 * the database driver raised count: an object store refusing a connection is not the database going away.
 */
export function isDatabaseDown(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if ((e as { [FROM_DATABASE]?: boolean })[FROM_DATABASE]) return looksDown(err);
  }
  return false;
}

/** Marks every error of this pool's queries and connections as the database's own (isDatabaseDown). */
export function markDatabaseErrors(pool: pg.Pool): void {
  const mark = (err: unknown) => {
    if (err instanceof Error) Object.defineProperty(err, FROM_DATABASE, { value: true });
    return err;
  };
  const wrapped = new WeakSet<object>();
  const wrapClient = (client: pg.PoolClient) => {
    if (wrapped.has(client)) return client;
    wrapped.add(client);
    const query = client.query.bind(client) as (...a: unknown[]) => unknown;
    client.query = ((...args: unknown[]) => {
      const r = query(...args);
      return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(mark(e))) : r;
    }) as typeof client.query;
    return client;
  };
  const query = pool.query.bind(pool) as (...a: unknown[]) => unknown;
  pool.query = ((...args: unknown[]) => {
    const r = query(...args);
    return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(mark(e))) : r;
  }) as typeof pool.query;
  const connect = pool.connect.bind(pool) as (...a: unknown[]) => unknown;
  // pg's own pool.query calls connect with a callback: that form is passed through untouched.
  pool.connect = ((...args: unknown[]) => {
    if (args.length > 0) return connect(...args);
    return (connect() as Promise<pg.PoolClient>).then(wrapClient, (e: unknown) => Promise.reject(mark(e)));
  }) as typeof pool.connect;
}

function looksDown(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && downCodes.has(code)) return true;
    if (
      /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
        e.message,
      )
    ) {
      return true;
    }
  }
  return false;
}

/** The server could not open its database at start: the message is the one line to show. */
export class DatabaseOpenError extends Error {
  readonly code = "database_unavailable";
  constructor(label: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      `cannot open the database ${hidePassword(label)}: ${why}; check that PostgreSQL runs there, that the user may log in and that the database exists (createdb), or give another --database`,
    );
  }
}

/** A request met a database that went away; the answer is 503, and the server carries on when it is back. */
export class DatabaseDownError extends Error {
  readonly code = "database_unavailable";
  constructor() {
    super("the server's database is not answering; try again in a moment (an admin should check PostgreSQL)");
  }
}

// What every route module gets: the domain context plus the server's own secrets and logger.
import type { Logger } from "pino";
import type { BuildLogs } from "../builds/build-log.js";
import type { LiveSettings } from "../config.js";
import type { Signals } from "../db/signals.js";
import type { DomainContext } from "../domain-context.js";
import type { Receives } from "../git/receive-context.js";
import type { TokenRecord } from "../orgs/tokens.js";

export interface AppContext extends DomainContext {
  /** Bearer secret of /api/v1/internal/*, shared with the hooks through the run file. */
  hookSecret: string;
  logger: Logger;
  /** The git pushes in flight (shared with the git handler), for `-o wait`; absent in API-only tests. */
  receives?: Receives;
  /** How live pages and event streams poll and keep alive (server/config.ts); defaults when absent (tests). */
  live?: LiveSettings;
  /** Build logs, in the server's object store; absent in route tests (then DATA_DIR/store, see buildLog). */
  buildLogs?: BuildLogs;
  /** Wake-ups within this server and, on PostgreSQL, across servers (server/db/signals.ts). */
  signals: Signals;
  /** Aborted first thing at shutdown: long-lived streams and long-polls end on it. Absent in API-only tests. */
  signal?: AbortSignal;
}

/** Hono's per-request variables: the authenticated token, set by `requireToken`. */
export interface AppEnv {
  Variables: { token: TokenRecord };
}

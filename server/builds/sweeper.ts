// Takes back the leases of builders that stopped calling in (killed, cut off): their builds are requeued.
import type { Logger } from "pino";
import type { Db } from "../db/open.js";
import { sweepExpiredLeases } from "./queue.js";

/** Sweeps every `intervalMs` (default 2 s) while `leading()` (one server of several does); returns stop(). */
export function startLeaseSweeper(
  db: Db,
  logger: Logger,
  intervalMs = 2000,
  leading: () => boolean = () => true,
): () => void {
  const timer = setInterval(async () => {
    if (!leading()) return;
    try {
      const n = await sweepExpiredLeases(db);
      if (n > 0) logger.warn({ leases: n }, "expired build leases taken back; their builds were requeued");
    } catch (err) {
      logger.error({ err }, "sweeping expired build leases failed");
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

// What the shared daemon's build hook asks for: the farm's build of one derivation, found by its drv path as the
// evaluator finds builds (one build per drv, shared by everyone who wants it; done already means done), with the
// .drv closure put into the Storehouse first so that the builders can substitute it.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseDerivation } from "../../lib/derivation.js";
import { publishDrvClosure } from "../builds/publish-drvs.js";
import type { Db } from "../db/open.js";
import type { Signals } from "../db/signals.js";
import { InvalidInputError } from "../errors.js";
import { findOrCreateBuild, storehouseIndex } from "../evaluations/builds.js";
import type { Storehouse } from "../storehouse/store.js";
import { addWant } from "./sessions.js";

export interface RelayBuildDeps {
  db: Db;
  storehouse: Storehouse;
  /** The shared daemon's chroot store, where the hook's .drv is. */
  storeRoot: string;
  signal?: AbortSignal;
  /** Wakes the builders waiting for work. */
  signals?: Signals;
}

export interface RelayBuild {
  id: number;
  outputs: Record<string, string>;
}

/** Queues (or finds) the build of `drvPath`; `sessionId`, when known, is the connection that wants it. */
export async function requestRelayBuild(
  deps: RelayBuildDeps,
  drvPath: string,
  sessionId: number | undefined,
): Promise<RelayBuild> {
  let text: string;
  try {
    text = await readFile(join(deps.storeRoot, drvPath), "utf8");
  } catch {
    throw new InvalidInputError(`${drvPath} is not in the shared daemon's store`);
  }
  const drv = parseDerivation(text);
  if (Object.values(drv.outputs).some((p) => p === "")) {
    throw new InvalidInputError(
      `${drvPath} has floating content-addressed outputs, which the farm does not build yet`,
      "ca_derivation",
    );
  }
  await publishDrvClosure({ storehouse: deps.storehouse, storeRoot: deps.storeRoot, signal: deps.signal }, [
    drvPath,
  ]);
  const name = drvPath.slice(drvPath.indexOf("-") + 1, -".drv".length);
  const { id } = await findOrCreateBuild(
    deps.db,
    { attr: name, name, system: drv.system, drvPath, outputs: drv.outputs },
    drv,
    storehouseIndex(deps.db),
  );
  if (sessionId !== undefined) await addWant(deps.db, sessionId, id);
  // Builders waiting in a long-poll claim take it now rather than at their next recheck.
  deps.signals?.publish("queue");
  return { id, outputs: drv.outputs };
}

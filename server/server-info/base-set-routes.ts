// GET /base-set: the base package set this server evaluates against, so that `flox check` and `flox build`
// can check and build with the same one (or say why they cannot). Public, like /health: it names no org.
import { readFile } from "node:fs/promises";
import { Hono } from "hono";
import type { BaseSetResponse } from "../../lib/api/server.js";
import { type BaseSetInfo, baseSetInfo } from "../../lib/base-set-info.js";
import type { AppContext, AppEnv } from "../http/context.js";

export function baseSetRoutes(ctx: AppContext): Hono<AppEnv> {
  // From the run file (rewritten at every start: what the hooks and the evaluator use); the digest reads
  // busybox, so it is kept for as long as the run file says the same.
  let cached: { runFile: string; info: Promise<BaseSetInfo> } | undefined;
  return new Hono<AppEnv>().get("/base-set", async (c) => {
    const runFile = await readFile(ctx.paths.hooksRunFile, "utf8");
    if (cached?.runFile !== runFile) {
      const run = JSON.parse(runFile) as { basePath?: string | null; busyboxDir: string; system: string };
      cached = {
        runFile,
        info: baseSetInfo({ basePath: run.basePath ?? null, busyboxDir: run.busyboxDir, system: run.system }),
      };
    }
    return c.json({ baseSet: await cached.info } satisfies BaseSetResponse);
  });
}

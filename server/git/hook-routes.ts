// The git hooks as tiny clients: the hook scripts (create-repo.ts) send what git hands them to these routes and print
// the answer, and the checks and records run here, in the server's process — no Node start-up and module loading
// per hook (~0.25 s each). The hook falls back to the compiled hooks/ in its own process whenever these routes do not
// answer as agreed (the server is away, restarted, or is not the one serving the push), so each guarantee of the
// hooks holds either way. Protocol: docs/API.md, "Hook routes"; the hook scripts: hooks/README.md.
import { realpath, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Context } from "hono";
import { Hono } from "hono";
import { stream } from "hono/streaming";
import type { GateSettings } from "../../hooks/gate.js";
import { parseUpdates } from "../../hooks/hook-input.js";
import { preReceive } from "../../hooks/push-check.js";
import { DEFAULT_EVAL_WAIT_MS, sayEvaluation } from "../../hooks/push-record.js";
import { Name } from "../../lib/api/common.js";
import type { Evaluation } from "../../lib/api/evaluations.js";
import { HOOK_EXIT, HOOK_RECORDED, InternalPushBody, OPTIONS_LINE } from "../../lib/api/internal.js";
import { InvalidInputError, NotFoundError } from "../errors.js";
import { evaluationOfPush } from "../evaluations/data.js";
import type { Evaluator } from "../evaluations/evaluator.js";
import { presentEvaluation, presentProblems } from "../evaluations/present.js";
import { requireHookSecret } from "../http/auth.js";
import { limitBody } from "../http/body-limit.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { getOrg } from "../orgs/orgs.js";
import { repoDir } from "../paths.js";
import { recordPush } from "../pushes/data.js";
import { presentPush } from "../pushes/present.js";
import type { GateResults } from "./gate-results.js";

/** The ref updates of a push can be many (a mirror of many branches), but never near this. */
const HOOK_BODY_LIMIT = 4 * 1024 * 1024;

export interface HookRouteOptions {
  /** The gate as this server runs it: its limits, store, base set and system (the run file's). */
  gate: GateSettings;
  /** Where a clean tree's jobs are left for the evaluator. */
  gateResults?: GateResults;
  evaluator?: Evaluator;
}

/** `old new ref` lines, then OPTIONS_LINE, then one push option a line. */
async function hookInput(c: Context): Promise<{ updates: string; options: string[] }> {
  await limitBody(c, HOOK_BODY_LIMIT, "the hook's input", "a push updates a few refs");
  const text = await c.req.text();
  const lines = text.split("\n");
  const at = lines.indexOf(OPTIONS_LINE);
  if (at < 0) throw new InvalidInputError(`the hook's input has no "${OPTIONS_LINE}" line`);
  return { updates: lines.slice(0, at).join("\n"), options: lines.slice(at + 1).filter((l) => l !== "") };
}

const optionsEnv = (options: string[]): NodeJS.ProcessEnv =>
  Object.fromEntries([
    ["GIT_PUSH_OPTION_COUNT", String(options.length)],
    ...options.map((o, i) => [`GIT_PUSH_OPTION_${i}`, o]),
  ]);

/**
 * The push's quarantine (receive-pack's `objects/tmp_objdir-incoming-*`), where its objects wait until pre-receive
 * said yes. Only a directory right there is taken: whoever holds the hook secret cannot point git elsewhere.
 */
export async function quarantineEnv(
  repo: string,
  given: string | undefined,
): Promise<Record<string, string>> {
  if (!given) return {};
  const objects = await realpath(join(repo, "objects"));
  const dir = await realpath(given).catch(() => "");
  const ok =
    dir !== "" &&
    dirname(dir) === objects &&
    basename(dir).startsWith("tmp_objdir-incoming-") &&
    (await stat(dir)).isDirectory();
  if (!ok) throw new InvalidInputError(`${given} is not a quarantine directory of this org's repo`);
  return { GIT_QUARANTINE_PATH: dir, GIT_OBJECT_DIRECTORY: dir, GIT_ALTERNATE_OBJECT_DIRECTORIES: objects };
}

export function hookRoutes(ctx: AppContext, opts: HookRouteOptions): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .post("/internal/hooks/pre-receive", requireHookSecret(ctx), async (c) => {
      const org = Name.safeParse(c.req.header("x-flox-org"));
      const pid = Number(c.req.query("pid"));
      if (!org.success || !Number.isInteger(pid) || pid <= 0)
        throw new InvalidInputError("give the org (x-flox-org) and the receive-pack's pid (?pid=)");
      // Only a push this server is receiving right now, into the repo it is receiving it into; any other (another
      // server's, in a fleet) is judged by the hook in its own process.
      const receive = ctx.receives?.byProcess(org.data, pid);
      if (!receive?.open)
        throw new NotFoundError(`no push to ${org.data} is served by git process ${pid} on this server`);
      const repo = repoDir(ctx.paths.repos, org.data);
      const gitEnv = await quarantineEnv(repo, c.req.header("x-flox-quarantine"));
      const { updates, options } = await hookInput(c);
      const out: string[] = [];
      const write = (line: string) => out.push(line);
      const began = Date.now();
      let code: number;
      try {
        code = await preReceive(parseUpdates(updates), {
          cwd: repo,
          env: optionsEnv(options),
          gitEnv,
          // A push without CI needs no .drv files: the gate then writes nothing, as the hook does.
          settings: options.includes("skip-ci") ? { ...opts.gate, instantiate: false } : opts.gate,
          write,
          onGate: (tree, result) => {
            if (opts.gate.instantiate && result.evaluated && result.problems.length === 0)
              opts.gateResults?.put(org.data, tree, { jobs: result.jobs, packages: result.packages });
          },
        });
      } catch (err) {
        // Fail closed, as the hook does: an unchecked push must not land.
        ctx.logger.error({ err, org: org.data }, "the push gate failed");
        write(
          `flox: the push gate failed, so the push was refused: ${(err as Error).message} ` +
            "(try again; if it keeps failing, tell the server admin)\n",
        );
        code = 1;
      }
      ctx.logger.info({ org: org.data, refused: code !== 0, ms: Date.now() - began }, "push gate ran");
      return c.text(`${out.join("")}${HOOK_EXIT} ${code}\n`);
    })
    .post("/internal/hooks/post-receive", requireHookSecret(ctx), async (c) => {
      const orgName = Name.safeParse(c.req.header("x-flox-org"));
      if (!orgName.success) throw new InvalidInputError("give the org (x-flox-org)");
      const org = await getOrg(ctx.db, orgName.data);
      const { updates, options } = await hookInput(c);
      const records = parseUpdates(updates).map((u) => {
        const body = InternalPushBody.safeParse({ org: org.name, ...u, pushOptions: options });
        if (!body.success) throw new InvalidInputError(`not a ref update: ${u.oldSha} ${u.newSha} ${u.ref}`);
        return body.data;
      });
      // Every record is durable before the answer starts: a server that dies after it leaves nothing to redo.
      const lines: string[] = [];
      const queued: { pushId: number; evaluation: Evaluation }[] = [];
      for (const r of records) {
        const push = await recordPush(ctx.db, org, r);
        ctx.logger.info({ org: org.name, ref: push.ref, newSha: push.newSha, id: push.id }, "push recorded");
        lines.push(`recorded push #${push.id} for ${push.ref}`);
        const evaluation = await evaluationOfPush(ctx.db, push.id);
        if (!evaluation) continue;
        if (evaluation.state === "queued") {
          ctx.signals.publish("evaluation", evaluation.id);
          await opts.evaluator?.kick();
        }
        queued.push({ pushId: presentPush(push).id, evaluation: presentEvaluation(evaluation) });
      }
      const serverUrl = new URL(c.req.url).origin;
      return stream(c, async (s) => {
        await s.write(`${[...lines, HOOK_RECORDED].join("\n")}\n`);
        // Then, as the hook does: each evaluation once it finished (all within one deadline), or where it stands.
        const deadline = Date.now() + DEFAULT_EVAL_WAIT_MS;
        for (const { pushId, evaluation: first } of queued) {
          if (s.aborted || ctx.signal?.aborted) return;
          if (first.state !== "skipped")
            await opts.evaluator?.waitFinished(first.id, Math.max(0, deadline - Date.now()));
          const e = await evaluationOfPush(ctx.db, pushId);
          const said: string[] = [];
          sayEvaluation(
            e ? presentEvaluation(e) : first,
            e ? await presentProblems(ctx.db, e.id) : [],
            serverUrl,
            (line) => said.push(line),
          );
          await s.write(`${said.join("\n")}\n`);
        }
      });
    });
}

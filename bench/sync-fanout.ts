// Fan-out of a new live generation to subscribed machines: a real `flox server` (its own process, loopback), a real
// builder and push for channel packages, and N simulated machines in this process — each its own machine token,
// registered and subscribed to acme/dev, one SSE stream each, reporting every switch as `flox sync` does (minus the
// symlinks). Prints, for 100 machines and for 1 (the peer: the same path without the fan-out):
//   - generation live (the rollback API call returned) → the machine's report stored (its POST answered);
//   - the same → the event delivered on the machine's stream (no report: the stream's own share);
// and end to end, a push whose build advances channel acme → the on-publish upgrade makes a generation (Nix builds
// the user environment) → every machine reported it. Asserts nothing.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/sync-fanout.js [machines] [rounds]`.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { execa } from "execa";
import { ProfileChange } from "../lib/api/machines.js";
import { readSse } from "../lib/sse.js";
import { serverSystem, startBuilderProcess } from "../testing/builder.js";
import { queryDb } from "../testing/ci-harness.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../testing/repos.js";
import { startTestServer, type TestServer } from "../testing/server.js";
import { waitFor } from "../testing/wait-for.js";

const MACHINES = Number(process.argv[2] ?? 100);
const ROUNDS = Number(process.argv[3] ?? 30);
const now = () => performance.timeOrigin + performance.now();

interface Arrival {
  id: number;
  generation: number;
  delivered: number;
  reported?: number;
}

/** One machine: its stream, and what arrived on it. */
class SimMachine {
  readonly arrivals: Arrival[] = [];
  ready: Promise<void>;
  #readyDone!: () => void;
  #abort = new AbortController();

  constructor(
    readonly srv: TestServer,
    readonly name: string,
    readonly token: string,
  ) {
    this.ready = new Promise((r) => {
      this.#readyDone = r;
    });
  }

  start(): void {
    void this.#run().catch((err) => {
      if (!this.#abort.signal.aborted) console.error(`${this.name}: ${(err as Error).message}`);
    });
  }

  stop(): void {
    this.#abort.abort();
  }

  async #run(): Promise<void> {
    const res = await fetch(`${this.srv.url}/api/v1/machines/me/events`, {
      headers: { authorization: `Bearer ${this.token}`, accept: "text/event-stream" },
      signal: this.#abort.signal,
    });
    if (!res.ok || !res.body) throw new Error(`stream: ${res.status} ${await res.text()}`);
    let live = false;
    for await (const item of readSse(res.body)) {
      if (item.type !== "event") continue;
      if (item.event === "ready") {
        live = true;
        this.#readyDone();
        continue;
      }
      if (item.event !== "profile" || !live) continue;
      const e = ProfileChange.parse(JSON.parse(item.data));
      if (e.id === null || e.generation === null) continue;
      const arrival: Arrival = { id: e.id, generation: e.generation, delivered: now() };
      this.arrivals.push(arrival);
      void this.#report(e.profile, e.generation).then(() => {
        arrival.reported = now();
      });
    }
  }

  async #report(profile: string, generation: number): Promise<void> {
    const r = await fetch(`${this.srv.url}/api/v1/machines/me/reports`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      body: JSON.stringify({ profile, generation, status: "ok" }),
    });
    if (r.status !== 204) throw new Error(`report: ${r.status} ${await r.text()}`);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

function figures(values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1)).padStart(6);
  return `p50 ${f(percentile(s, 50))} ms   p99 ${f(percentile(s, 99))} ms   max ${f(s.at(-1) ?? Number.NaN)} ms   (${s.length} samples)`;
}

async function api(srv: TestServer, method: string, path: string, body?: unknown, token?: string) {
  const r = await srv.api(method, path, body, token);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function makeMachines(srv: TestServer, count: number, from: number): Promise<SimMachine[]> {
  const out: SimMachine[] = [];
  for (let i = 0; i < count; i++) {
    const name = `m${from + i}`;
    const { secret } = await api(srv, "POST", "/api/v1/tokens", { scope: "machine", org: "acme", name });
    await api(srv, "POST", "/api/v1/machines", { name }, secret);
    await api(srv, "POST", "/api/v1/machines/me/subscriptions", { profile: "acme/dev" }, secret);
    out.push(new SimMachine(srv, name, secret));
  }
  for (const m of out) m.start();
  await Promise.all(out.map((m) => m.ready));
  return out;
}

/** Waits until every machine reported an event newer than `after`; answers those arrivals. */
async function allReported(machines: SimMachine[], after: number, timeoutMs = 60_000): Promise<Arrival[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = machines.map((m) => m.arrivals.find((a) => a.id > after && a.reported !== undefined));
    if (got.every((a) => a)) return got as Arrival[];
    if (Date.now() > until) throw new Error(`only ${got.filter((a) => a).length} machines reported in time`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const lastId = (machines: SimMachine[]) =>
  Math.max(0, ...machines.flatMap((m) => m.arrivals.map((a) => a.id)));

/** `rounds` rollbacks between generations 1 and 2; latencies from the API call's return. */
async function rollbackRounds(srv: TestServer, member: string, machines: SimMachine[], rounds: number) {
  const report: number[] = [];
  const deliver: number[] = [];
  const apiMs: number[] = [];
  let current = 2;
  for (let r = 0; r < rounds; r++) {
    const after = lastId(machines);
    current = current === 2 ? 1 : 2;
    const sent = now();
    await api(srv, "POST", "/api/v1/profiles/acme/dev/rollback", { to: current }, member);
    const t0 = now();
    apiMs.push(t0 - sent);
    for (const a of await allReported(machines, after)) {
      report.push((a.reported ?? Number.NaN) - t0);
      deliver.push(a.delivered - t0);
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  return { report, deliver, apiMs };
}

async function main(): Promise<void> {
  await ensureCompiledHooks();
  const tmp = await mkdtemp(join(tmpdir(), "flox-bench-sync-"));
  const srv = await startTestServer();
  const builderToken = (await api(srv, "POST", "/api/v1/tokens", { scope: "builder", name: "b" })).secret;
  const builder = startBuilderProcess(srv, {
    name: "b1",
    token: builderToken,
    store: join(tmp, "store-b1"),
    system: await serverSystem(srv.dataDir),
  });
  const machines: SimMachine[] = [];
  try {
    await api(srv, "POST", "/api/v1/orgs", { name: "acme" });
    const member = (await api(srv, "POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "member" }))
      .secret;
    const work = await workRepoFromFixture("dep-chain", tmp);
    const pushed = async (message: string) => {
      await commitAll(work, message);
      const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
      if (r.exitCode !== 0) throw new Error(r.stderr);
      const evals = await api(srv, "GET", "/api/v1/orgs/acme/jobsets/main/evaluations");
      const id = evals.evaluations[0].id as number;
      await waitFor(
        `channel acme at evaluation ${id}`,
        async () => (await api(srv, "GET", "/api/v1/channels/acme")).channel?.current?.evaluation >= id,
        { timeoutMs: 300_000, explain: () => builder.log() },
      );
      return id;
    };
    process.stderr.write("setting up: push, build, channel, profile acme/dev with two generations…\n");
    await pushed("a chain of three");
    await api(srv, "POST", "/api/v1/orgs/acme/profiles", { name: "dev" }, member);
    await api(srv, "POST", "/api/v1/profiles/acme/dev/install", { refs: ["acme#c"] }, member);
    await api(srv, "POST", "/api/v1/profiles/acme/dev/install", { refs: ["acme#b"] }, member);

    process.stderr.write("1 machine…\n");
    const one = await makeMachines(srv, 1, 0);
    machines.push(...one);
    const single = await rollbackRounds(srv, member, one, ROUNDS);
    one[0]?.stop();

    process.stderr.write(`${MACHINES} machines…\n`);
    const many = await makeMachines(srv, MACHINES, 1);
    machines.push(...many);
    const fan = await rollbackRounds(srv, member, many, ROUNDS);

    // End to end: a push changes c; its build advances channel acme; the on-publish upgrade makes a generation.
    process.stderr.write("end to end: push → build → channel advance → on-publish generation → machines…\n");
    await api(srv, "POST", "/api/v1/profiles/acme/dev/rollback", { to: 2 }, member);
    await allReported(many, lastId(many));
    const e2e: { advanceToLive: number; liveToReports: number[]; advanceToReports: number[] }[] = [];
    for (let i = 1; i <= 2; i++) {
      const after = lastId(many);
      const file = join(work, "pkgs", "c", "default.nix");
      await writeFile(
        file,
        (await readFile(file, "utf8")).replace(/text = "c[0-9]*\\n"/, `text = "c${i}\\n"`),
      );
      const evaluation = await pushed(`c, version ${i}`);
      const arrivals = await allReported(many, after, 300_000);
      const [point] = queryDb<{ createdAt: string }>(
        srv.dataDir,
        "select p.created_at as createdAt from channel_points p where p.evaluation_id = ?",
        evaluation,
      );
      const [live] = queryDb<{ createdAt: string }>(
        srv.dataDir,
        "select created_at as createdAt from change_events where id = ?",
        arrivals[0]?.id,
      );
      const tAdvance = Date.parse(point?.createdAt ?? "");
      const tLive = Date.parse(live?.createdAt ?? "");
      e2e.push({
        advanceToLive: tLive - tAdvance,
        liveToReports: arrivals.map((a) => (a.reported ?? Number.NaN) - tLive),
        advanceToReports: arrivals.map((a) => (a.reported ?? Number.NaN) - tAdvance),
      });
    }

    const lines = [
      `sync fan-out: ${MACHINES} simulated machines (one SSE stream and token each, in one process) and a real flox server, loopback, ${ROUNDS} rollbacks each`,
      "",
      `${MACHINES} machines, generation live (API call returned) →`,
      `  report stored (the machine's POST answered)   ${figures(fan.report)}`,
      `  event delivered on its stream (no report)     ${figures(fan.deliver)}`,
      "1 machine (peer: the same path without the fan-out) →",
      `  report stored                                 ${figures(single.report)}`,
      `  event delivered                               ${figures(single.deliver)}`,
      `the rollback API call itself (${MACHINES} machines connected)   ${figures(fan.apiMs)}`,
      "",
      `end to end, push of a changed package (channel advance → on-publish generation → ${MACHINES} machines):`,
      ...e2e.map(
        (r, i) =>
          `  run ${i + 1}: channel advance → generation live ${r.advanceToLive.toFixed(0)} ms (Nix builds the user environment); live → reports ${figures(r.liveToReports)}; advance → reports p50 ${percentile(
            [...r.advanceToReports].sort((a, b) => a - b),
            50,
          ).toFixed(0)} ms p99 ${percentile(
            [...r.advanceToReports].sort((a, b) => a - b),
            99,
          ).toFixed(0)} ms`,
      ),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    for (const m of machines) m.stop();
    await builder.stop();
    await srv.stop();
    await execa("chmod", ["-R", "u+w", tmp], { reject: false });
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();

// Rewrites imports of lib/api-schemas.js and lib/api-client.js to lib/api/<resource>.js (issue 12, section 2).
// Usage: node rewrite-api-imports.mjs [files...]   (default: every .ts/.tsx under the tree, outside node_modules/dist)
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";

const modules = {
  common: "nameRegex Name Branch Sha Timestamp",
  enums: "roles tokenScopes pushSources evaluationStates buildStates",
  errors: "ErrorBody ApiError ApiUnreachableError ApiResponseError",
  client: "ApiClient ApiClientOptions",
  server: "HealthResponse BaseSetResponse",
  orgs: "Role Org User Member CreateOrgBody UpdateOrgBody CreateUserBody PutMemberBody OrgResponse OrgsResponse UserResponse UsersResponse MemberResponse MembersResponse",
  tokens: "TokenScope tokenSecretRegex TokenInfo CreateTokenBody CreateTokenResponse TokensResponse WhoamiResponse",
  pushes: "PushSource Push PushResponse PushesResponse",
  internal: "InternalPushBody SpooledPush HookRunFile InternalPushResponse PushEvaluationResponse ReceiveWaitingBody ReceiveWaitingResponse ReceiveVerdictBody ReceiveVerdictResponse ProgressJob EvaluationProgressResponse",
  evaluations: "EvaluationState EvaluationCounts Evaluation EvalProblem EvalJob EvalComparison EvaluationDetail Jobset JobsetsResponse EvaluationsResponse EvaluationResponse",
  builds: "BuildState BuildRef Build BuildDetail BuildsResponse BuildResponse PriorityBody BuildsChangedResponse",
  builders: "ClaimBody ClaimedBuild Lease ClaimResponse HeartbeatBody HeartbeatResponse BuildResultBody BuildResultResponse Builder BuildQueue BuildersResponse",
  storehouse: "StorehouseSummary StorehouseResponse StorehouseSweepResponse StorehouseVerifyResponse",
  channels: "ChannelPoint Channel ChannelResponse ChannelsResponse PackageChanges ChannelHistoryPoint ChannelHistoryResponse PinChannelBody",
  profiles: "ProfileEntry ProfileEvent Generation Profile CreateProfileBody InstallBody RemoveBody UpgradeBody RollbackBody ProfileResponse ProfilesResponse ProfileEditResponse GenerationsResponse GenerationDiffResponse ScheduleBody Schedule ScheduleResponse ProfileStatus ProfileStatusResponse",
  machines: "MachineName RegisterMachineBody ProfileSpec ChannelSpec SubscriptionBody Subscription MachineProfileState Machine MachineResponse MachinesResponse ReportBody ProfileChange ChannelChange Unsubscribed MachineEvent ReadyEvent",
};
const home = new Map();
for (const [m, names] of Object.entries(modules)) for (const n of names.split(" ")) home.set(n, m);

const OLD = /(?:^|\/)lib\/api-(?:schemas|client)\.js$/;
const files =
  process.argv.slice(2).length > 0
    ? process.argv.slice(2)
    : execFileSync("git", ["ls-files", "*.ts", "*.tsx"], { encoding: "utf8" }).split("\n").filter(Boolean);

function target(file, spec) {
  const abs = resolve(dirname(file), spec);
  return abs.replace(/api-(?:schemas|client)\.js$/, "");
}
function modPath(file, libDir, mod) {
  let rel = relative(dirname(resolve(file)), resolve(libDir, "api", `${mod}.js`));
  if (!rel.startsWith(".")) rel = `./${rel}`;
  return rel;
}

for (const file of files) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    continue;
  }
  if (!/api-(?:schemas|client)\.js/.test(text)) continue;
  const before = text;
  // Static imports: `import [type] { a, type B, C as D } from "…/lib/api-schemas.js";`
  text = text.replace(/^import (type )?\{([^}]*)\} from "([^"]+)";\n/gm, (whole, allType, list, spec) => {
    if (!OLD.test(resolve(dirname(file), spec).replace(/\\/g, "/"))) return whole;
    const libDir = target(file, spec);
    const byMod = new Map();
    for (const raw of list.split(",").map((s) => s.trim()).filter(Boolean)) {
      const isType = Boolean(allType) || raw.startsWith("type ");
      const name = raw.replace(/^type /, "");
      const mod = home.get(name.split(/\s+as\s+/)[0]);
      if (!mod) throw new Error(`${file}: no module for ${name}`);
      if (!byMod.has(mod)) byMod.set(mod, []);
      byMod.get(mod).push({ name, isType });
    }
    return [...byMod.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([mod, specs]) => {
        const path = modPath(file, libDir, mod);
        if (specs.every((s) => s.isType)) return `import type { ${specs.map((s) => s.name).join(", ")} } from "${path}";\n`;
        return `import { ${specs.map((s) => (s.isType ? `type ${s.name}` : s.name)).join(", ")} } from "${path}";\n`;
      })
      .join("");
  });
  // Lazy imports: `const { A, B } = await import("…/lib/api-client.js");` (all from one module)
  text = text.replace(/\{([^{}]*)\} = await import\("([^"]+)"\)/g, (whole, list, spec) => {
    if (!OLD.test(resolve(dirname(file), spec).replace(/\\/g, "/"))) return whole;
    const mods = new Set(list.split(",").map((s) => s.trim()).filter(Boolean).map((n) => home.get(n.split(":")[0].trim())));
    if (mods.size !== 1 || mods.has(undefined)) throw new Error(`${file}: lazy import spans modules: ${list}`);
    return `{${list}} = await import("${modPath(file, target(file, spec), [...mods][0])}")`;
  });
  // Comments naming the old files.
  text = text.replace(/lib\/api-schemas\.ts/g, "lib/api/").replace(/lib\/api-client\.ts/g, "lib/api/client.ts");
  if (text !== before) {
    writeFileSync(file, text);
    console.log(`rewrote ${file}`);
  }
}

// What to tell a pusher about an error: paths shortened, a hint per known message, "did you mean" for a
// missing argument, and the line of a `throw` that Nix 2.8 reports without a position.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Position } from "./nix-errors.js";
import { defaultSystem, type EvalOptions } from "./results.js";
import { type Ctx, nixPathExpr, type RunLimits, runNix, sandboxArgs } from "./run.js";

/** Absolute server-side paths in Nix's messages say nothing useful to a pusher: shorten them. */
export function scrubPaths(message: string, ctx: Partial<Ctx> & { root: string }): string {
  let m = message.split(`${ctx.root}/`).join("");
  if (ctx.nixDir) m = m.split(ctx.nixDir).join("<flox>");
  if (ctx.busybox) m = m.split(ctx.busybox).join("<busybox>");
  if (ctx.base) m = m.split(ctx.base).join("<base>");
  return m;
}

/** What to do about one of Nix's error messages, for the ones a pusher meets. */
export function hintFor(message: string): { hint?: string } {
  const undefinedVar = /^undefined variable '([^']+)'/.exec(message);
  if (undefinedVar) {
    return {
      hint: `'${undefinedVar[1]}' is not defined here: if it is a package, add it to the function's arguments; otherwise check the spelling`,
    };
  }
  if (/^syntax error/.test(message)) {
    return {
      hint: "fix the Nix syntax: the parser stops where it noticed, the mistake is often just before",
    };
  }
  if (/forbidden in restricted mode/.test(message)) {
    return {
      hint: "a package may read only files of this repository: no absolute paths, no links out of it, no <…> lookups",
    };
  }
  if (/(not allowed|forbidden) in restricted mode|allowed-uris/.test(message)) {
    return { hint: "evaluation is offline: commit the sources to the repository instead of fetching them" };
  }
  if (/allow-import-from-derivation/.test(message)) {
    return { hint: "import-from-derivation is disabled: generate the Nix code ahead of time and commit it" };
  }
  if (/stack overflow|infinite recursion/.test(message)) {
    return { hint: "look for a value that depends on itself or a recursion that never stops" };
  }
  if (/^attribute '([^']+)' missing/.test(message)) return { hint: "check the attribute's name" };
  return {};
}

/** The line of a .nix file of the package (or of lib/) that holds a `throw`/`abort` with `message`. */
export async function findThrow(root: string, name: string, message: string): Promise<Position | undefined> {
  if (message.length < 4) return undefined;
  const files = [
    ...(await nixFilesUnder(join(root, "pkgs", name))),
    ...(await nixFilesUnder(join(root, "lib"))),
  ];
  for (const file of files.slice(0, 200)) {
    const lines = (await readFile(file, "utf8").catch(() => "")).split("\n");
    const index = lines.findIndex((l) => /\b(throw|abort)\b/.test(l) && l.includes(message));
    if (index >= 0) return { file, line: index + 1 };
  }
  return undefined;
}

async function nixFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".nix"))
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort();
}

/** The first line of `file` where `word` appears as a Nix identifier: for an argument, its declaration. */
export async function lineOfWord(file: string, word: string): Promise<number | undefined> {
  const text = await readFile(file, "utf8").catch(() => "");
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`(^|[^A-Za-z0-9_'-])${escaped}($|[^A-Za-z0-9_'-])`);
  const index = text.split("\n").findIndex((l) => re.test(l));
  return index >= 0 ? index + 1 : undefined;
}

const baseNamesCache = new Map<string, Promise<string[]>>();

/** The base set's attribute names, for "did you mean" hints (one nix call, on the error path only). */
function baseNames(
  ctx: Ctx,
  opts: EvalOptions,
  env: Record<string, string>,
  limits: RunLimits,
): Promise<string[]> {
  const key = `${ctx.base ?? ""}\0${ctx.busybox}\0${opts.system ?? defaultSystem}`;
  let names = baseNamesCache.get(key);
  if (!names) {
    names = runNix(
      [
        "--eval",
        "--strict",
        "--json",
        "--store",
        "dummy://",
        ...sandboxArgs(ctx),
        "-E",
        `{ busybox, basePath ? null, system }: builtins.attrNames (if basePath != null then import basePath { inherit system; } else import ${nixPathExpr(join(ctx.nixDir, "base"))} { inherit busybox system; })`,
        "--arg",
        "busybox",
        nixPathExpr(ctx.busybox),
        ...(ctx.base ? ["--arg", "basePath", nixPathExpr(ctx.base)] : []),
        "--argstr",
        "system",
        opts.system ?? defaultSystem,
      ],
      env,
      limits,
    ).then((r) => (r.ok ? (JSON.parse(r.stdout) as string[]) : []));
    baseNamesCache.set(key, names);
  }
  return names;
}

export async function missingArgHint(
  arg: string,
  ctx: Ctx,
  opts: EvalOptions,
  env: Record<string, string>,
  limits: RunLimits,
): Promise<string> {
  const base = await baseNames(ctx, opts, env, limits);
  const org = await readdir(join(ctx.root, "pkgs")).catch(() => [] as string[]);
  const close = [...new Set([...org, ...base])].filter((n) => n !== arg && similar(n, arg)).slice(0, 5);
  let hint = `no package '${arg}' in pkgs/ or in the base set: declare it in pkgs/${arg}/ or check the spelling`;
  if (close.length) hint += `; did you mean ${close.join(", ")}?`;
  // The bootstrap set is small enough to list; nixpkgs is not.
  if (!ctx.base && base.length > 0) hint += `; available from base: ${base.join(", ")}`;
  return hint;
}

function similar(a: string, b: string): boolean {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la.length >= 3 && lb.length >= 3 && (la.includes(lb) || lb.includes(la))) return true;
  return editDistance(la, lb) <= Math.max(1, Math.floor(Math.min(la.length, lb.length) / 4));
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

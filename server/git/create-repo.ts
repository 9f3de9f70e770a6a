// Creates an org's bare repo and (re)installs the flox hooks in it.
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { HOOK_EXIT, HOOK_RECORDED, OPTIONS_LINE } from "../../lib/api/internal.js";
import { projectRoot } from "../../lib/project-root.js";
import { type DataPaths, repoDir } from "../paths.js";

export const hookNames = ["pre-receive", "post-receive"] as const;

/** Quotes `s` for /bin/sh so that any path survives. */
function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The hook script: a small sh client of the running server (server/git/hook-routes.ts), which checks and records the
 * push in its own process, so no Node process starts per hook. Whenever the server does not answer as agreed (it is
 * away, was restarted, serves another server's push in a fleet, or the push says `-o wait`), the script runs the
 * compiled hook instead, with the same input: every guarantee of hooks/ holds either way. The absolute node path
 * keeps that fallback working when the server runs with a PATH that lacks node (systemd units); every start rewrites
 * it, so an upgrade is picked up. The run dir's hooks.url and hooks.curl (the hook secret, kept off command lines)
 * are written by the server at each start (server/run-file.ts).
 */
export function hookScript(name: (typeof hookNames)[number]): string {
  const entry = join(projectRoot, "dist", "hooks", `${name}.js`);
  const fill = (lines: string[]) =>
    lines
      .map((l) =>
        l
          .replaceAll("@NAME@", name)
          .replaceAll("@ENTRY@", entry)
          .replaceAll("@NODE_Q@", shQuote(process.execPath))
          .replaceAll("@ENTRY_Q@", shQuote(entry))
          .replaceAll("@OPTIONS_LINE@", OPTIONS_LINE)
          .replaceAll("@HOOK_EXIT@", HOOK_EXIT)
          .replaceAll("@HOOK_RECORDED@", HOOK_RECORDED),
      )
      .join("\n");
  return `${fill(COMMON)}\n${fill(name === "pre-receive" ? PRE_RECEIVE : POST_RECEIVE)}\n`;
}

/** Reads the run dir, and `send ARGS` POSTs the updates and options to the server (curl's output on stdout). */
const COMMON = [
  "#!/bin/sh",
  "# flox @NAME@: hands git's input to the flox server; falls back to @ENTRY@",
  "node=@NODE_Q@",
  "entry=@ENTRY_Q@",
  "input=$(cat)",
  "# exec: the compiled hook's parent is git receive-pack, as it names the push by it (-o wait)",
  "fallback() {",
  '  exec "$node" "$entry" <<EOF',
  "$input",
  "EOF",
  "}",
  "options() {",
  "  i=0",
  '  while [ "$i" -lt "${GIT_PUSH_OPTION_COUNT:-0}" ]; do',
  '    eval "printf \'%s\\n\' \\"\\${GIT_PUSH_OPTION_$i}\\""',
  "    i=$((i + 1))",
  "  done",
  "}",
  "# One git for both settings (git prints keys in lower case; the last value wins, as with git config --get).",
  "run_file='' org=''",
  "while read -r key value; do",
  "  case $key in",
  "    flox.org) org=$value ;;",
  "    flox.runfile) run_file=$value ;;",
  "  esac",
  "done <<EOF",
  "$(git config --get-regexp '^flox\\.(org|runfile)$')",
  "EOF",
  '[ -n "$org" ] && [ -n "$run_file" ] || fallback',
  "run=${run_file%/*}",
  '{ read -r url < "$run/hooks.url"; } 2>/dev/null && [ -r "$run/hooks.curl" ] || fallback',
  "send() {",
  "  { printf '%s\\n' \"$input\"; echo @OPTIONS_LINE@; options; } |",
  '    curl -s -f -K "$run/hooks.curl" -H "x-flox-org: $org" -H \'content-type: text/plain\' --data-binary @- "$@" 2>/dev/null',
  "}",
];

/** The answer's last line is the exit code; the lines before it are the hook's messages. */
const PRE_RECEIVE = [
  'out=$(send -H "x-flox-quarantine: ${GIT_QUARANTINE_PATH:-}" "$url/api/v1/internal/hooks/pre-receive?pid=$PPID") || fallback',
  "nl='",
  "'",
  'last=${out##*"$nl"}',
  "case $last in",
  '  "@HOOK_EXIT@ 0") code=0 ;;',
  '  "@HOOK_EXIT@ 1") code=1 ;;',
  "  *) fallback ;;",
  "esac",
  'printf \'%s\' "${out%"$last"}" >&2',
  "exit $code",
];

/** `-o wait` follows builds for as long as they take: the compiled hook does that. */
const POST_RECEIVE = [
  'for o in $(options); do [ "$o" = wait ] && fallback; done',
  'send -N "$url/api/v1/internal/hooks/post-receive" | {',
  "  recorded=1",
  "  while IFS= read -r line; do",
  '    if [ "$line" = @HOOK_RECORDED@ ]; then recorded=0; else printf \'%s\\n\' "$line" >&2; fi',
  "  done",
  "  exit $recorded",
  "} || fallback",
];

/** Writes the hooks into `<repo>/hooks`, replacing what is there. Idempotent. */
export async function installHooks(repo: string): Promise<void> {
  const dir = join(repo, "hooks");
  await mkdir(dir, { recursive: true });
  for (const name of hookNames) {
    const file = join(dir, name);
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, hookScript(name), { mode: 0o755 });
    await chmod(tmp, 0o755);
    // Renaming over the old hook means a push running right now sees either the old or the new script, never half.
    await rename(tmp, file);
  }
}

async function configure(repo: string, paths: DataPaths, org: string): Promise<void> {
  const settings: [string, string][] = [
    ["receive.advertisePushOptions", "true"],
    ["receive.denyDeletes", "false"],
    ["http.receivepack", "true"],
    ["flox.org", org],
    ["flox.runFile", paths.hooksRunFile],
  ];
  for (const [key, value] of settings)
    await execa("git", ["config", "--file", join(repo, "config"), key, value]);
}

/** `git init --bare` the org's repo with branch main, our settings and hooks. Safe to run on an existing repo. */
export async function createRepo(paths: DataPaths, org: string): Promise<string> {
  const repo = repoDir(paths.repos, org);
  await mkdir(repo, { recursive: true });
  await execa("git", ["init", "--quiet", "--bare", "--initial-branch=main", repo]);
  await configure(repo, paths, org);
  await installHooks(repo);
  return repo;
}

/**
 * Brings every existing repo up to date with this checkout: hooks point at the current dist/, settings at the
 * current data dir (both may have moved since the repo was created).
 */
export async function refreshRepo(paths: DataPaths, org: string): Promise<void> {
  const repo = repoDir(paths.repos, org);
  await configure(repo, paths, org);
  await installHooks(repo);
}

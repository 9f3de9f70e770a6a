// A profile generation as Nix makes it: a user environment built by Nix's own `builtin:buildenv` from a manifest
// in nix-env's format, in the server's chroot store (the packages substituted from the Storehouse itself), then
// published to the Storehouse, signed. The same entries give the same store path on every machine.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { diesWithParent } from "../../lib/dies-with-parent.js";
import { isolatedNixEnv } from "../../lib/nix-isolated-env.js";
import { ConflictError } from "../errors.js";

export interface EnvElement {
  /** The package's name as people know it (the attr, or the store path's name). */
  label: string;
  /** The derivation name (`hello-1.0`). */
  name: string;
  system: string;
  /** Output name → store path; every output is linked into the environment. */
  outputs: Record<string, string>;
  /** Lower wins a file both provide (nix-env's meta.priority, default 5). */
  priority: number;
}

/** Two packages provide one file at the same priority: nothing is built, and both are named. */
export class CollisionError extends ConflictError {
  override name = "CollisionError";
  constructor(
    readonly file: string,
    readonly packages: [string, string],
  ) {
    super(
      `${packages[0]} and ${packages[1]} both provide ${file}; give one of them a priority (lower wins): flox profile install --priority 4 …`,
    );
  }
}

export class UserEnvError extends Error {
  override name = "UserEnvError";
}

export interface UserEnvOptions {
  /** The server's chroot store (DATA_DIR/nix-root). */
  storeRoot: string;
  /** `http://127.0.0.1:PORT/cache`: where the chroot store substitutes the packages from. */
  cacheUrl: string;
  publicKey: string;
  /** A credential the Storehouse accepts for reads (a private cache needs one). */
  readSecret: string;
}

/** For a '' string: '' and ${ escaped. Store paths and names never need it, but the text is ours to keep safe. */
const indented = (s: string) => s.replace(/''/g, "'''").replace(/\$\{/g, "''${");
const quoted = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$\{/g, "\\${")}"`;

/** The expression nix-env would build for these elements (its buildenv.nix, with the manifest inline). */
export function userEnvExpression(elements: readonly EnvElement[]): string {
  const paths = new Map<string, string>();
  const ref = (p: string) => {
    let v = paths.get(p);
    if (!v) {
      v = `p${paths.size}`;
      paths.set(p, v);
    }
    return v;
  };
  const manifest = elements.map((e) => {
    const outs = Object.keys(e.outputs).sort((a, b) => (a === "out" ? -1 : b === "out" ? 1 : a < b ? -1 : 1));
    const first = e.outputs[outs[0] ?? "out"] ?? "";
    const outAttrs = outs.map((o) => `${o} = { outPath = "\${${ref(e.outputs[o] ?? "")}}"; };`).join(" ");
    return `{ meta = { priority = ${e.priority}; }; name = "${indented(e.name)}"; ${outAttrs} outPath = "\${${ref(first)}}"; outputs = [ ${outs.map((o) => `"${o}"`).join(" ")} ]; system = "${indented(e.system)}"; type = "derivation"; }`;
  });
  const derivations = elements.map((e) => {
    const outs = Object.keys(e.outputs).sort((a, b) => (a === "out" ? -1 : b === "out" ? 1 : a < b ? -1 : 1));
    return `"true" ${e.priority} ${outs.length} ${outs.map((o) => ref(e.outputs[o] ?? "")).join(" ")}`;
  });
  const lets = [...paths].map(([p, v]) => `  ${v} = builtins.storePath ${quoted(p)};`).join("\n");
  return `# A user environment as nix-env builds one (src/nix-env/buildenv.nix), made by flox.
let
${lets}
  manifest = builtins.toFile "env-manifest.nix" ''[ ${manifest.join(" ")} ]'';
in
derivation {
  name = "user-environment";
  system = "builtin";
  builder = "builtin:buildenv";
  inherit manifest;
  derivations = [ ${derivations.join(" ")} ];
  preferLocalBuild = true;
  allowSubstitutes = false;
}
`;
}

/** Builds the environment in the chroot store; returns its store path. */
export async function buildUserEnv(opts: UserEnvOptions, elements: readonly EnvElement[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flox-user-env-"));
  try {
    const host = new URL(opts.cacheUrl).hostname;
    await writeFile(join(dir, "netrc"), `machine ${host} login x password ${opts.readSecret}\n`, {
      mode: 0o600,
    });
    const { env } = await isolatedNixEnv({
      dir,
      conf: [
        `substituters = ${opts.cacheUrl}`,
        `trusted-public-keys = ${opts.publicKey}`,
        "require-sigs = true",
        `netrc-file = ${join(dir, "netrc")}`,
        "narinfo-cache-negative-ttl = 0",
        "sandbox = false",
        "build-users-group =",
      ],
    });
    await writeFile(join(dir, "env.nix"), userEnvExpression(elements));
    // SIGTERM with the server, even on kill -9: Nix takes it as an interrupt and stops its builder too.
    const cmd = diesWithParent(
      "nix-build",
      ["--store", opts.storeRoot, "--no-out-link", join(dir, "env.nix")],
      "TERM",
    );
    const r = await execa(cmd.file, cmd.args, {
      env: { ...env, LC_ALL: "C" },
      extendEnv: false,
      reject: false,
      stdin: "ignore",
      timeout: 300_000,
    });
    if (r.exitCode === 0) {
      const out = String(r.stdout).trim().split("\n").pop() ?? "";
      if (/^\/nix\/store\/[0-9a-z]{32}-user-environment$/.test(out)) return out;
      throw new UserEnvError(`nix-build printed no user environment path: ${String(r.stdout).slice(0, 300)}`);
    }
    const stderr = String(r.stderr);
    // Nix 2.8 says "packages '/nix/store/…/bin/x' and '/nix/store/…/bin/x' have the same priority 5" (others
    // "files '…' and '…'", older ones "collision between `…' and `…'"); 2.26 says "There is a conflict for the
    // following files:" and lists them one a line.
    const collision =
      /(?:packages|files) '(\/nix\/store\/[^']+)' and '(\/nix\/store\/[^']+)' have the same priority/.exec(
        stderr,
      ) ??
      /collision between [`'](\/nix\/store\/[^'`]+)' and [`'](\/nix\/store\/[^'`]+)'/.exec(stderr) ??
      /conflict for the following files:\s+(\/nix\/store\/\S+)\s+(\/nix\/store\/\S+)/.exec(stderr);
    if (collision) {
      const [, a = "", b = ""] = collision;
      const owner = (file: string) =>
        elements.find((e) => Object.values(e.outputs).some((o) => file.startsWith(`${o}/`)))?.label ??
        file.slice(0, 44);
      const within = a.replace(/^\/nix\/store\/[^/]+\//, "");
      throw new CollisionError(within, [owner(a), owner(b)]);
    }
    throw new UserEnvError(
      `building the profile's user environment failed: ${stderr.trim().split("\n").slice(-3).join(" | ")}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Which Nix flox runs and what that Nix can do: the one place that finds the binaries (--nix-bin DIR, FLOX_NIX_BIN,
// else PATH), reads their version, refuses one older than 2.8, and answers each question on which 2.8 and 2.26
// differ by version instead of by guessing (docs/ARCHITECTURE.md, "Nix versions").
import { delimiter, join, resolve } from "node:path";
import { execa } from "execa";

/** The oldest Nix flox runs on: Debian 12's. */
export const minimumNix = "2.8.0";

/** The environment variable that carries the chosen Nix to every process flox starts (servers, builders, tests). */
export const nixBinVariable = "FLOX_NIX_BIN";

export class NixNotFoundError extends Error {
  override name = "NixNotFoundError";
}

export class NixTooOldError extends Error {
  override name = "NixTooOldError";
}

/** What flox asks of a Nix whose behaviour changed between 2.8 and 2.26. */
export interface NixFeatures {
  /** `nix path-info --json` prints an object keyed by store path (2.19+), not an array of objects with `path`. */
  pathInfoJsonByPath: boolean;
  /** The worker protocol the daemon speaks: 1.34 in 2.8, 1.38 in 2.26 (they negotiate down both ways). */
  daemonProtocol: string;
  /** `nix-daemon --force-untrusted` exists (2.16+); before it, `--stdio` on a local store is always trusted. */
  daemonForceUntrusted: boolean;
  /** `nix config show` (2.20+; `nix show-config` is then a deprecated alias that warns). */
  configShowCommand: readonly string[];
  /** The new CLI needs `--extra-experimental-features nix-command` on both; this is the flag pair to pass. */
  newCliFlags: readonly string[];
  /** `nix-store --dump-db PATHS` prints the same registration records on both (checked 2.8.0, 2.26.3). */
  dumpDb: boolean;
}

export interface NixInstall {
  /** The directory the binaries come from, or undefined for "whatever PATH finds". */
  dir: string | undefined;
  /** e.g. "2.26.3". */
  version: string;
  features: NixFeatures;
  /** The command to run for `name` (`nix-store`, `nix`, …): DIR/name, or the bare name for PATH. */
  bin(name: string): string;
  /** `PATH` with DIR first, so that Nix's own children (nix-channel → nix-env) and ours find the same Nix. */
  path(basePath?: string): string;
  /** "Nix 2.26.3 (from DIR)" for start-up lines. */
  describe(): string;
}

/** [major, minor, patch] of "2.26.3", "2.8.0", "2.18.0pre2024…"; undefined when it is not a version. */
export function parseNixVersion(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(v.trim());
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

/** a >= b for two versions parseNixVersion accepts. */
export function versionAtLeast(a: string, b: string): boolean {
  const x = parseNixVersion(a);
  const y = parseNixVersion(b);
  if (!x || !y) return false;
  for (let i = 0; i < 3; i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  }
  return true;
}

export function featuresOf(version: string): NixFeatures {
  const at = (v: string) => versionAtLeast(version, v);
  return {
    pathInfoJsonByPath: at("2.19.0"),
    daemonProtocol: at("2.26.0") ? "1.38" : at("2.8.0") && !at("2.9.0") ? "1.34" : "negotiated",
    daemonForceUntrusted: at("2.16.0"),
    configShowCommand: at("2.20.0") ? ["config", "show"] : ["show-config"],
    newCliFlags: ["--extra-experimental-features", "nix-command"],
    dumpDb: true,
  };
}

/** The Nix directory asked for: an explicit --nix-bin, else FLOX_NIX_BIN, else none (PATH). */
export function chosenNixDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const d = explicit ?? env[nixBinVariable];
  return d ? resolve(d) : undefined;
}

function install(dir: string | undefined, version: string): NixInstall {
  return {
    dir,
    version,
    features: featuresOf(version),
    bin: (name) => (dir ? join(dir, name) : name),
    path: (basePath = process.env.PATH ?? "/usr/bin:/bin") =>
      dir && basePath.split(delimiter)[0] !== dir ? `${dir}${delimiter}${basePath}` : basePath,
    describe: () => `Nix ${version}${dir ? ` (from ${dir})` : ""}`,
  };
}

/**
 * Finds and checks the Nix in `dir` (or on PATH): runs `nix-store --version`. Throws NixNotFoundError when there is
 * none and NixTooOldError below {@link minimumNix}, each saying what to do.
 */
export async function probeNix(dir?: string): Promise<NixInstall> {
  const cmd = dir ? join(dir, "nix-store") : "nix-store";
  const r = await execa(cmd, ["--version"], { reject: false, stdin: "ignore", timeout: 30_000 });
  const out = String(r.stdout ?? "");
  const m = /\(Nix\) (\S+)/.exec(out);
  if (r.exitCode !== 0 || !m?.[1]) {
    const where = dir ? `${cmd}` : "nix-store on PATH";
    throw new NixNotFoundError(
      `${where} did not run (${r.exitCode === undefined ? String(r.shortMessage ?? "not found") : `exit ${r.exitCode}`}): ` +
        "install Nix (npm run setup, the official installer or your distribution's package) or point --nix-bin / " +
        `${nixBinVariable} at the directory holding nix-store`,
    );
  }
  const version = m[1];
  if (!parseNixVersion(version) || !versionAtLeast(version, minimumNix)) {
    throw new NixTooOldError(
      `${cmd} is Nix ${version}; flox needs Nix ${minimumNix} or newer: upgrade it, or point --nix-bin / ` +
        `${nixBinVariable} at a newer Nix (npm run setup -- --modern-nix puts 2.26 in .cache/nix-2.26/bin)`,
    );
  }
  return install(dir, version);
}

/**
 * For a process that runs Nix (server, builder, `flox check`, `flox build`): checks the chosen Nix and makes it the
 * one this process and its children use, by putting its directory first on PATH and in FLOX_NIX_BIN.
 */
export async function useNix(explicit?: string): Promise<NixInstall> {
  const dir = chosenNixDir(explicit);
  const nix = await probeNix(dir);
  if (dir) {
    process.env.PATH = nix.path();
    process.env[nixBinVariable] = dir;
  }
  return nix;
}

/** One `nix path-info --json` entry, the same whatever the version printed. */
export interface PathInfo {
  path: string;
  narHash: string;
  narSize: number;
  references: string[];
  deriver: string | undefined;
  signatures: string[];
}

/** Reads `nix path-info --json` of 2.8 (an array of objects with `path`) and of 2.19+ (an object keyed by path). */
export function parsePathInfoJson(text: string): PathInfo[] {
  const raw: unknown = JSON.parse(text);
  const entries: Array<[string, Record<string, unknown>]> = Array.isArray(raw)
    ? raw.map((e: Record<string, unknown>) => [String(e.path), e])
    : Object.entries(raw as Record<string, Record<string, unknown> | null>).flatMap(([p, e]) =>
        e ? [[p, e] as [string, Record<string, unknown>]] : [],
      );
  return entries.map(([path, e]) => ({
    path,
    narHash: String(e.narHash),
    narSize: Number(e.narSize),
    references: Array.isArray(e.references) ? e.references.map(String) : [],
    deriver: typeof e.deriver === "string" ? e.deriver : undefined,
    signatures: Array.isArray(e.signatures) ? e.signatures.map(String) : [],
  }));
}

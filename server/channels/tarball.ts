// The channel's `nixexprs.tar.xz` (and `.tar.bz2`): like Hydra's, one top-level directory whose default.nix
// names the built outputs by their store paths. Nothing is evaluated on the client: `nix-env -iA acme.hello`
// substitutes exactly what the builders produced (signatures checked), and no base set or busybox needs to
// ship. Made once per channel point, byte-for-byte reproducible, kept under DATA_DIR/channels/.
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import type { ChannelJob } from "./channels.js";

export type TarballKind = "xz" | "bz2";

export interface ChannelTarball {
  path: string;
  /** Quoted strong ETag (sha256 of the bytes). */
  etag: string;
  size: number;
}

/** A Nix string literal: `"`, `\` and `${` escaped. */
function nixString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$\{/g, "\\${")}"`;
}

/** The channel's default.nix: each attr a derivation-shaped set whose outputs are `builtins.storePath`s. */
export function channelExpression(header: string, jobs: readonly ChannelJob[]): string {
  const lines = jobs.map((j) => {
    const outs = Object.entries(j.outputs)
      .map(([o, p]) => `${nixString(o)} = ${nixString(p)};`)
      .join(" ");
    return `  ${nixString(j.attr)} = mk { name = ${nixString(j.name)}; system = ${nixString(j.system)}; outputs = { ${outs} }; };`;
  });
  return `# ${header.replace(/\n/g, " ")}
# Made by flox: every attribute is a package built by CI and signed into the Storehouse. Nothing here builds:
# installing one substitutes its store path (the client checks the Storehouse's signature).
{ ... }:
let
  mk =
    { name, system, outputs }:
    let
      names = builtins.attrNames outputs;
      outs = builtins.listToAttrs (
        map (o: {
          name = o;
          value = common // {
            outputName = o;
            outPath = builtins.storePath outputs.\${o};
          };
        }) names
      );
      common = outs // {
        type = "derivation";
        inherit name system;
        outputs = names;
        all = builtins.attrValues outs;
      };
    in
    outs.out or (builtins.head (builtins.attrValues outs));
in
{
${lines.join("\n")}
}
`;
}

const FILES: Record<TarballKind, { name: string; flag: string }> = {
  xz: { name: "nixexprs.tar.xz", flag: "--xz" },
  bz2: { name: "nixexprs.tar.bz2", flag: "--bzip2" },
};

async function describe(path: string): Promise<ChannelTarball> {
  const bytes = await readFile(path);
  return {
    path,
    etag: `"${createHash("sha256").update(bytes).digest("base64url")}"`,
    size: (await stat(path)).size,
  };
}

/**
 * The tarball of channel point `pointId`, made on first use: `<dir>/<pointId>/nixexprs.tar.{xz,bz2}` (temp dir +
 * rename, so a reader never sees half a file). `topDir` names the one top-level directory.
 */
export async function channelTarball(
  dir: string,
  pointId: number,
  kind: TarballKind,
  topDir: string,
  expression: () => Promise<string> | string,
): Promise<ChannelTarball> {
  const final = join(dir, String(pointId));
  const file = join(final, FILES[kind].name);
  try {
    return await describe(file);
  } catch {
    // not made yet
  }
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, `.tmp-${pointId}-`));
  try {
    await mkdir(join(work, "src", topDir), { recursive: true });
    await writeFile(join(work, "src", topDir, "default.nix"), await expression());
    for (const k of Object.keys(FILES) as TarballKind[]) {
      await execa(
        "tar",
        [
          "--create",
          FILES[k].flag,
          "--file",
          join(work, FILES[k].name),
          "--sort=name",
          "--owner=0",
          "--group=0",
          "--numeric-owner",
          "--mtime=@1",
          "--directory",
          join(work, "src"),
          topDir,
        ],
        { stdin: "ignore", env: { XZ_OPT: "-6" } },
      );
    }
    await rm(join(work, "src"), { recursive: true, force: true });
    try {
      await rename(work, final);
    } catch (err) {
      // Another request made it first: theirs is the same bytes.
      if (
        (err as NodeJS.ErrnoException).code !== "ENOTEMPTY" &&
        (err as NodeJS.ErrnoException).code !== "EEXIST"
      )
        throw err;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return describe(file);
}

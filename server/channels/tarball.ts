// The channel's `nixexprs.tar.xz` (and `.tar.bz2`): like Hydra's, one top-level directory whose default.nix
// names the built outputs by their store paths. Nothing is evaluated on the client: `nix-env -iA acme.hello`
// substitutes exactly what the builders produced (signatures checked), and no base set or busybox needs to
// ship. Made once per channel point, byte-for-byte reproducible, kept in the object store (`--nar-store`) under
// channels/<point>/, so every server of a fleet serves the same bytes.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { execa } from "execa";
import { getText, type ObjectStore } from "../storehouse/objects/object-store.js";
import type { ChannelJob } from "./channels.js";

export type TarballKind = "xz" | "bz2";

export interface ChannelTarball {
  /** Its key in the object store. */
  key: string;
  /** Quoted strong ETag (sha256 of the bytes). */
  etag: string;
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

/** The tarball's object; beside it `.sha256`, written after it, so its presence says the tarball is whole. */
const tarballKey = (pointId: number, kind: TarballKind) => `channels/${pointId}/${FILES[kind].name}`;
const sumKey = (pointId: number, kind: TarballKind) => `${tarballKey(pointId, kind)}.sha256`;

async function fileSha256(file: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(file), h);
  return h.digest("base64url");
}

/**
 * The tarball of channel point `pointId`, made on first use in a temp dir under `workDir` and then stored as
 * `channels/<pointId>/nixexprs.tar.{xz,bz2}`. `topDir` names the one top-level directory. Two servers making it
 * at once store the same bytes.
 */
export async function channelTarball(
  objects: ObjectStore,
  workDir: string,
  pointId: number,
  kind: TarballKind,
  topDir: string,
  expression: () => Promise<string> | string,
): Promise<ChannelTarball> {
  const known = await getText(objects, sumKey(pointId, kind));
  if (known !== undefined) return { key: tarballKey(pointId, kind), etag: `"${known.trim()}"` };
  await mkdir(workDir, { recursive: true });
  const work = await mkdtemp(join(workDir, `.tmp-${pointId}-`));
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
      await objects.put(tarballKey(pointId, k), createReadStream(join(work, FILES[k].name)));
      await objects.put(sumKey(pointId, k), await fileSha256(join(work, FILES[k].name)));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const sum = await getText(objects, sumKey(pointId, kind));
  if (sum === undefined)
    throw new Error(`the tarball ${tarballKey(pointId, kind)} vanished just after it was stored`);
  return { key: tarballKey(pointId, kind), etag: `"${sum.trim()}"` };
}

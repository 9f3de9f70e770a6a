// Test helpers: NARs made from small trees, and uploads to a running server's Storehouse.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { narChunks } from "../lib/nar-writer.js";
import { type NarInfo, serializeNarInfo } from "../lib/narinfo.js";
import { encodeNix32 } from "../lib/nix32.js";

export type Tree = Record<string, string | { executable: string } | { symlink: string }>;

/** The NAR of a directory holding `tree` (paths relative to it). */
export async function narOf(tree: Tree): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), "flox-nar-"));
  try {
    for (const [rel, v] of Object.entries(tree)) {
      const file = join(dir, "root", rel);
      await mkdir(dirname(file), { recursive: true });
      if (typeof v === "string") await writeFile(file, v);
      else if ("executable" in v) await writeFile(file, v.executable, { mode: 0o755 });
      else await symlink(v.symlink, file);
    }
    const chunks: Buffer[] = [];
    for await (const c of narChunks(join(dir, "root"))) chunks.push(c);
    return Buffer.concat(chunks);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function nix32Sha256(data: Buffer): string {
  return encodeNix32(createHash("sha256").update(data).digest());
}

/** A random, well-formed store path hash (the server cannot tell it from a real one). */
export function randomStoreHash(): string {
  return encodeNix32(randomBytes(20));
}

export type Compression = "none" | "br" | "gzip";

export interface Upload {
  hash: string;
  storePath: string;
  nar: Buffer;
  file: Buffer;
  fileName: string;
  info: NarInfo;
  narinfoText: string;
}

/** Everything `nix copy` would PUT for a path holding `tree`, referencing `references` (basenames). */
export async function prepareUpload(
  name: string,
  tree: Tree,
  opts: { compression?: Compression; references?: string[] } = {},
): Promise<Upload> {
  const compression = opts.compression ?? "none";
  const hash = randomStoreHash();
  const storePath = `/nix/store/${hash}-${name}`;
  const nar = await narOf(tree);
  const file = compression === "br" ? brotliCompressSync(nar) : compression === "gzip" ? gzipSync(nar) : nar;
  const fileHash = nix32Sha256(file);
  const fileName = `${fileHash}.nar${compression === "br" ? ".br" : ""}`;
  const info: NarInfo = {
    storePath,
    url: `nar/${fileName}`,
    compression,
    fileHash: `sha256:${fileHash}`,
    fileSize: file.length,
    narHash: `sha256:${nix32Sha256(nar)}`,
    narSize: nar.length,
    references: opts.references ?? [],
    sigs: [],
  };
  return { hash, storePath, nar, file, fileName, info, narinfoText: serializeNarInfo(info) };
}

export function basic(token: string): string {
  return `Basic ${Buffer.from(`x:${token}`).toString("base64")}`;
}

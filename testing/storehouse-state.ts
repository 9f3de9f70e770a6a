// What GC tests check of a Storehouse on disk: every served narinfo has its NAR, every row its files and its whole
// closure. Read straight from the data dir (the server may be dead: these run after a kill -9 too).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { queryDb } from "./ci-harness.js";
import { basic, type Upload } from "./storehouse-uploads.js";

export interface StorehouseProblems {
  /** narinfo files whose NAR is missing: a client would get a narinfo and then a 404. */
  danglingNarinfos: string[];
  /** rows without their narinfo or NAR file. */
  rowsWithoutFiles: string[];
  /** rows referencing a path the Storehouse lacks. */
  incompleteClosures: string[];
  /** narinfo files without a row (allowed only while a journal entry says they are on their way out). */
  narinfosWithoutRow: string[];
}

export function storehouseProblems(dataDir: string): StorehouseProblems {
  const store = join(dataDir, "store");
  const rows = queryDb<{ hash: string; nar_file: string; references: string }>(
    dataDir,
    'select hash, nar_file, "references" from cache_paths',
  );
  const byHash = new Set(rows.map((r) => r.hash));
  const out: StorehouseProblems = {
    danglingNarinfos: [],
    rowsWithoutFiles: [],
    incompleteClosures: [],
    narinfosWithoutRow: [],
  };
  for (const f of readdirSync(join(store, "narinfo"))) {
    const text = readFileSync(join(store, "narinfo", f), "utf8");
    const url = /^URL: (.*)$/m.exec(text)?.[1] ?? "";
    if (!existsSync(join(store, url))) out.danglingNarinfos.push(f);
    if (!byHash.has(f.replace(/\.narinfo$/, ""))) out.narinfosWithoutRow.push(f);
  }
  for (const r of rows) {
    if (!existsSync(join(store, "narinfo", `${r.hash}.narinfo`)) || !existsSync(join(store, r.nar_file)))
      out.rowsWithoutFiles.push(r.hash);
    for (const ref of JSON.parse(r.references) as string[])
      if (!byHash.has(ref.slice(0, 32))) out.incompleteClosures.push(`${r.hash} -> ${ref}`);
  }
  return out;
}

/** PUTs the NAR and then the narinfo, as `nix copy` does; throws on anything but 2xx. */
export async function uploadPath(url: string, token: string, u: Upload): Promise<void> {
  const auth = { authorization: basic(token) };
  const nar = await fetch(`${url}/cache/${u.info.url}`, { method: "PUT", headers: auth, body: u.file });
  if (!nar.ok) throw new Error(`PUT ${u.info.url}: ${nar.status} ${await nar.text()}`);
  const info = await fetch(`${url}/cache/${u.hash}.narinfo`, {
    method: "PUT",
    headers: auth,
    body: u.narinfoText,
  });
  if (!info.ok) throw new Error(`PUT ${u.hash}.narinfo: ${info.status} ${await info.text()}`);
}

/** The status a narinfo GET answers. */
export async function narinfoStatus(url: string, storePath: string): Promise<number> {
  const hash = storePath.slice("/nix/store/".length, "/nix/store/".length + 32);
  const r = await fetch(`${url}/cache/${hash}.narinfo`);
  await r.arrayBuffer();
  return r.status;
}

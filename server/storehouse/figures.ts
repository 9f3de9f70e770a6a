// What the Storehouse holds, in figures: paths, their NAR bytes and the bytes on disk, the last upload.
import { sql } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { first } from "../db/raw.js";
import { cachePaths } from "../db/tables.js";

export interface StorehouseFigures {
  paths: number;
  /** Uncompressed (NarSize). */
  narBytes: number;
  /** The NAR files as stored (compressed or not). */
  fileBytes: number;
  lastUploadAt: string | null;
}

export async function storehouseFigures(db: Db): Promise<StorehouseFigures> {
  const row = await db
    .select({
      paths: sql<number>`count(*)`,
      narBytes: sql<number>`coalesce(sum(${cachePaths.narSize}), 0)`,
      fileBytes: sql<number>`coalesce(sum(${cachePaths.fileSize}), 0)`,
      lastUploadAt: sql<string | null>`max(${cachePaths.createdAt})`,
    })
    .from(cachePaths)
    .then(first);
  return row ?? { paths: 0, narBytes: 0, fileBytes: 0, lastUploadAt: null };
}

// The HTTP API v1: the Storehouse (binary cache) in figures, and its admin actions.
import { z } from "zod";
import { Timestamp } from "./common.js";
import { StorehouseUsage } from "./storehouse-gc.js";

/** `GET /storehouse`: the binary cache in figures (no path names: those are the orgs' business). */
export const StorehouseSummary = z.object({
  /** The cache URL for `substituters` / `nix copy --to`. */
  url: z.string(),
  /** For `trusted-public-keys`. */
  publicKey: z.string(),
  /** Reads need a token (`flox server --private-cache`). */
  private: z.boolean(),
  paths: z.number().int(),
  narBytes: z.number().int(),
  fileBytes: z.number().int(),
  lastUploadAt: Timestamp.nullable(),
  /** Collection: roots, what the next run frees, the last run; `orgs` lists only the orgs the caller may read. */
  gc: StorehouseUsage.optional(),
});
export type StorehouseSummary = z.infer<typeof StorehouseSummary>;

export const StorehouseResponse = z.object({ storehouse: StorehouseSummary });
export type StorehouseResponse = z.infer<typeof StorehouseResponse>;

/** `POST /storehouse/sweep` (admin): the orphaned NAR files, stale temp files and unreferenced objects it deleted. */
export const StorehouseSweepResponse = z.object({
  removed: z.object({
    nars: z.array(z.string()),
    tmp: z.array(z.string()),
    unreferenced: z.array(z.string()).default([]),
  }),
});
export type StorehouseSweepResponse = z.infer<typeof StorehouseSweepResponse>;

/** `POST /storehouse/verify` (admin): one bounded run of the NAR check; the files it quarantined. */
export const StorehouseVerifyResponse = z.object({
  checked: z.number().int(),
  quarantined: z.array(
    z.object({ narFile: z.string(), storePaths: z.array(z.string()), reason: z.string() }),
  ),
});
export type StorehouseVerifyResponse = z.infer<typeof StorehouseVerifyResponse>;

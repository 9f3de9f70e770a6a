// The HTTP API v1: what the server says about itself (health, the base set it evaluates with).
import { z } from "zod";

export const HealthResponse = z.object({ ok: z.literal(true), version: z.string() });
export type HealthResponse = z.infer<typeof HealthResponse>;

/** GET /api/v1/base-set: what packages' arguments resolve from after the org's own (lib/base-set-info.ts). */
export const BaseSetResponse = z.object({
  baseSet: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("bootstrap"), system: z.string(), digest: z.string() }),
    z.object({
      kind: z.literal("nixpkgs"),
      system: z.string(),
      name: z.string(),
      version: z.string().nullable(),
    }),
  ]),
});
export type BaseSetResponse = z.infer<typeof BaseSetResponse>;

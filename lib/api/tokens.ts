// The HTTP API v1: tokens, their scopes, and who a token is (docs/API.md, "Tokens").
import { z } from "zod";
import { Name, Timestamp } from "./common.js";
import { tokenScopes } from "./enums.js";
import { Role } from "./orgs.js";

export const TokenScope = z.enum(tokenScopes);
export type TokenScope = z.infer<typeof TokenScope>;

/** `flox_` and 43 base64url characters (32 random bytes). */
export const tokenSecretRegex = /^flox_[A-Za-z0-9_-]{43}$/;

export const TokenInfo = z.object({
  id: z.number().int().positive(),
  name: z.string().nullable(),
  scope: TokenScope,
  /** Set for `org` and `machine` tokens. */
  org: Name.nullable(),
  /** Set for `org` tokens. */
  role: Role.nullable(),
  /** Set for `user` tokens. */
  user: Name.nullable(),
  /** First 10 characters of the secret, to tell tokens apart. */
  prefix: z.string(),
  createdAt: Timestamp,
  lastUsedAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;

/**
 * `org` tokens need `org` and `role`; `user` tokens need `user`; `machine` tokens need `org` (the org whose profiles
 * and channels the machine may follow); the other scopes take none of them.
 * `name` is a free-form label (e.g. "ci on laptop").
 */
export const CreateTokenBody = z
  .object({
    scope: TokenScope,
    org: Name.optional(),
    role: Role.optional(),
    user: Name.optional(),
    name: z.string().trim().min(1).max(100).optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    const extra = (field: "org" | "role" | "user") =>
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [field],
        message: `is not allowed for scope "${body.scope}"`,
      });
    const missing = (field: "org" | "role" | "user") =>
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [field],
        message: `is required for scope "${body.scope}"`,
      });
    if (body.scope === "org") {
      if (body.org === undefined) missing("org");
      if (body.role === undefined) missing("role");
      if (body.user !== undefined) extra("user");
    } else if (body.scope === "user") {
      if (body.user === undefined) missing("user");
      if (body.org !== undefined) extra("org");
      if (body.role !== undefined) extra("role");
    } else if (body.scope === "machine") {
      // A machine belongs to one org: it may follow that org's profiles and channels, nothing else.
      if (body.org === undefined) missing("org");
      if (body.role !== undefined) extra("role");
      if (body.user !== undefined) extra("user");
    } else {
      if (body.org !== undefined) extra("org");
      if (body.role !== undefined) extra("role");
      if (body.user !== undefined) extra("user");
    }
  });
export type CreateTokenBody = z.infer<typeof CreateTokenBody>;

export const WhoamiResponse = z.object({ token: TokenInfo });
export type WhoamiResponse = z.infer<typeof WhoamiResponse>;

/** The secret is in this answer only; the server keeps its sha256. */
export const CreateTokenResponse = z.object({ token: TokenInfo, secret: z.string() });
export type CreateTokenResponse = z.infer<typeof CreateTokenResponse>;

export const TokensResponse = z.object({ tokens: z.array(TokenInfo) });
export type TokensResponse = z.infer<typeof TokensResponse>;

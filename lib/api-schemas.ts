// The HTTP API v1 contract (docs/API.md) as zod schemas: the server validates with them, the CLI parses with them.
import { z } from "zod";

/** Org and user names: lowercase, digits and dashes, at most 39 characters (like GitHub's). */
export const nameRegex = /^[a-z0-9][a-z0-9-]{0,38}$/;

export const Name = z
  .string()
  .regex(nameRegex, "must be 1-39 characters of a-z, 0-9 and '-', starting with a letter or digit");
export type Name = z.infer<typeof Name>;

/** An org role, weakest last: owner > member > reader. */
export const Role = z.enum(["owner", "member", "reader"]);
export type Role = z.infer<typeof Role>;

export const TokenScope = z.enum(["admin", "org", "user", "builder", "machine"]);
export type TokenScope = z.infer<typeof TokenScope>;

/** `flox_` and 43 base64url characters (32 random bytes). */
export const tokenSecretRegex = /^flox_[A-Za-z0-9_-]{43}$/;

/** A git object id: sha1 (40 hex) or sha256 (64 hex). */
export const Sha = z
  .string()
  .regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, "must be a 40- or 64-character hex object id");

/** ISO 8601 timestamp as the server writes it (`new Date().toISOString()`). */
const Timestamp = z.string();

// ---- resources ----

export const Org = z.object({
  name: Name,
  displayName: z.string(),
  createdAt: Timestamp,
  /** Clone URL, e.g. `http://HOST/acme/nixexprs.git`. */
  repoUrl: z.string(),
});
export type Org = z.infer<typeof Org>;

export const User = z.object({ name: Name, createdAt: Timestamp });
export type User = z.infer<typeof User>;

export const Member = z.object({ user: Name, org: Name, role: Role });
export type Member = z.infer<typeof Member>;

export const TokenInfo = z.object({
  id: z.number().int().positive(),
  name: z.string().nullable(),
  scope: TokenScope,
  /** Set for `org` tokens. */
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

export const PushSource = z.enum(["hook", "reconciled"]);
export type PushSource = z.infer<typeof PushSource>;

export const Push = z.object({
  id: z.number().int().positive(),
  org: Name,
  /** Full ref name, e.g. `refs/heads/main`. */
  ref: z.string(),
  /** All zeros when the ref was created. */
  oldSha: Sha,
  /** All zeros when the ref was deleted. */
  newSha: Sha,
  pushOptions: z.array(z.string()),
  source: PushSource,
  receivedAt: Timestamp,
});
export type Push = z.infer<typeof Push>;

/** Every error answer: `{"error": {"code": "snake_case", "message": "..."}}`. */
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---- request bodies ----

export const CreateOrgBody = z
  .object({ name: Name, displayName: z.string().trim().min(1).max(200).optional() })
  .strict();
export type CreateOrgBody = z.infer<typeof CreateOrgBody>;

export const CreateUserBody = z.object({ name: Name }).strict();
export type CreateUserBody = z.infer<typeof CreateUserBody>;

export const PutMemberBody = z.object({ role: Role }).strict();
export type PutMemberBody = z.infer<typeof PutMemberBody>;

/**
 * `org` tokens need `org` and `role`; `user` tokens need `user`; the other scopes take neither.
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
    } else {
      if (body.org !== undefined) extra("org");
      if (body.role !== undefined) extra("role");
      if (body.user !== undefined) extra("user");
    }
  });
export type CreateTokenBody = z.infer<typeof CreateTokenBody>;

/** Sent by the post-receive hook, one per updated ref, with the hook secret as Bearer token. */
export const InternalPushBody = z
  .object({
    org: Name,
    ref: z.string().regex(/^refs\/\S+$/, "must be a full ref name such as refs/heads/main"),
    oldSha: Sha,
    newSha: Sha,
    pushOptions: z.array(z.string()).default([]),
  })
  .strict();
export type InternalPushBody = z.input<typeof InternalPushBody>;

// ---- responses ----

export const HealthResponse = z.object({ ok: z.literal(true), version: z.string() });
export type HealthResponse = z.infer<typeof HealthResponse>;

export const WhoamiResponse = z.object({ token: TokenInfo });
export type WhoamiResponse = z.infer<typeof WhoamiResponse>;

export const OrgResponse = z.object({ org: Org });
export type OrgResponse = z.infer<typeof OrgResponse>;

export const OrgsResponse = z.object({ orgs: z.array(Org) });
export type OrgsResponse = z.infer<typeof OrgsResponse>;

export const UserResponse = z.object({ user: User });
export type UserResponse = z.infer<typeof UserResponse>;

export const UsersResponse = z.object({ users: z.array(User) });
export type UsersResponse = z.infer<typeof UsersResponse>;

export const MemberResponse = z.object({ member: Member });
export type MemberResponse = z.infer<typeof MemberResponse>;

export const MembersResponse = z.object({ members: z.array(Member) });
export type MembersResponse = z.infer<typeof MembersResponse>;

/** The secret is in this answer only; the server keeps its sha256. */
export const CreateTokenResponse = z.object({ token: TokenInfo, secret: z.string() });
export type CreateTokenResponse = z.infer<typeof CreateTokenResponse>;

export const TokensResponse = z.object({ tokens: z.array(TokenInfo) });
export type TokensResponse = z.infer<typeof TokensResponse>;

export const PushResponse = z.object({ push: Push });
export type PushResponse = z.infer<typeof PushResponse>;

/** Newest first. */
export const PushesResponse = z.object({ pushes: z.array(Push) });
export type PushesResponse = z.infer<typeof PushesResponse>;

// ---- server ↔ hooks ----

/**
 * `DATA_DIR/run/hooks.json`, written by the server at every start (mode 0600) and read by the git hooks.
 * Each repo's `git config flox.runFile` points at it.
 */
export const HookRunFile = z.object({
  /** Loopback URL of the running server, e.g. `http://127.0.0.1:8080`. */
  serverUrl: z.string(),
  /** Bearer token for `/api/v1/internal/*`; new at every server start. */
  hookSecret: z.string(),
  /** Largest file a push may contain, in bytes. */
  maxFileSize: z.number().int().positive(),
  /** The server's chroot Nix store root (`--store <storeRoot>`). */
  storeRoot: z.string(),
  /** Holds `bin/busybox` and `bin/sh` for the bootstrap base set. */
  busyboxDir: z.string(),
  /** `--base`: a nixpkgs tree to use instead of the bootstrap base set, or null. */
  basePath: z.string().nullable(),
  system: z.string(),
});
export type HookRunFile = z.infer<typeof HookRunFile>;

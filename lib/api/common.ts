// The HTTP API v1 (docs/API.md): the value types every resource shares (names, branches, object ids, times).
import { z } from "zod";

/** Org and user names: lowercase, digits and dashes, at most 39 characters (like GitHub's). */
export const nameRegex = /^[a-z0-9][a-z0-9-]{0,38}$/;

export const Name = z
  .string()
  .regex(nameRegex, "must be 1-39 characters of a-z, 0-9 and '-', starting with a letter or digit");
export type Name = z.infer<typeof Name>;

/** A branch name as git allows it, roughly: what matters is that it is one, not a path trick (`..`, empty parts). */
export const Branch = z
  .string()
  .min(1)
  .max(255)
  .refine((b) => !b.split("/").some((part) => part === "" || part === "." || part === ".."), {
    message: "is not a branch name",
  });

/** A git object id: sha1 (40 hex) or sha256 (64 hex). */
export const Sha = z
  .string()
  .regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, "must be a 40- or 64-character hex object id");

/** ISO 8601 timestamp as the server writes it (`new Date().toISOString()`). */
export const Timestamp = z.string();

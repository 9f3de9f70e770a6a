// How API values read in human output.
import type { TokenInfo } from "../lib/api/tokens.js";

/** `2025-11-25T06:25:31.123Z` → `2025-11-25 06:25` (UTC): enough to tell rows apart in a table. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]}` : iso;
}

/** What a token may do, in a few words: `admin`, `org acme (member)`, `user alice`, `machine of org acme`. */
export function describeScope(t: Pick<TokenInfo, "scope" | "org" | "role" | "user">): string {
  switch (t.scope) {
    case "org":
      return `org ${t.org ?? "?"} (${t.role ?? "?"})`;
    case "user":
      return `user ${t.user ?? "?"}`;
    case "machine":
      return t.org ? `machine of org ${t.org}` : "machine";
    default:
      return t.scope;
  }
}

/** Git object ids shortened the way `git log --oneline` does; all zeros (created/deleted ref) stays recognisable. */
export function shortSha(sha: string): string {
  return /^0+$/.test(sha) ? "0000000" : sha.slice(0, 7);
}

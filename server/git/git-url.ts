// Decides from the RAW request URL whether a request is for git, and refuses anything git-shaped but not exact.
import { nameRegex } from "../../lib/api/common.js";

export type GitService = "info-refs" | "upload-pack" | "receive-pack" | "head";

export type GitRoute =
  | { kind: "not-git" }
  | { kind: "refuse"; status: 400 | 404 | 405; message: string }
  | { kind: "git"; org: string; service: GitService; access: "fetch" | "push" };

const exact =
  /^\/([^/?#]+)\/nixexprs\.git\/(info\/refs|git-upload-pack|git-receive-pack|HEAD)(?:\?(service=git-(?:upload|receive)-pack))?$/;
const serviceEnd = /\/(info\/refs|git-upload-pack|git-receive-pack|HEAD)$/;

function decoded(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** Anything a git client, or someone probing for repo files, would ask for. */
function looksLikeGit(path: string): boolean {
  return /\.git(\/|$)/i.test(path) || /\.git(\/|$)/i.test(decoded(path)) || serviceEnd.test(path);
}

const notFound = (what: string) =>
  ({
    kind: "refuse",
    status: 404,
    message: `${what}; each org has one repo, http://HOST/<org>/nixexprs.git`,
  }) as const;

/** `rawUrl` is `req.url` exactly as received: nothing has decoded or normalised it yet. */
export function classifyGitUrl(method: string, rawUrl: string): GitRoute {
  const q = rawUrl.indexOf("?");
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  if (!looksLikeGit(path)) return { kind: "not-git" };

  if (/\.\.|%2f|%5c|\\|\/\/|%2e/i.test(rawUrl)) {
    return {
      kind: "refuse",
      status: 400,
      message:
        "the URL contains '..', an encoded '/' or '\\', a backslash or '//'; use http://HOST/<org>/nixexprs.git",
    };
  }
  const m = exact.exec(rawUrl);
  if (!m) return notFound(`there is no repository at ${path}`);
  const [, org = "", endpoint, serviceQuery] = m;
  if (!nameRegex.test(org)) return notFound(`"${org}" is not an org name`);

  const expect = (wanted: "GET" | "POST"): GitRoute | undefined =>
    method === wanted
      ? undefined
      : { kind: "refuse", status: 405, message: `${endpoint} takes ${wanted}, not ${method}` };

  switch (endpoint) {
    case "info/refs": {
      if (!serviceQuery) {
        return {
          kind: "refuse",
          status: 400,
          message: "this server speaks only git's smart HTTP protocol; use git 1.6.6 or newer",
        };
      }
      const access = serviceQuery.endsWith("receive-pack") ? "push" : "fetch";
      return expect("GET") ?? { kind: "git", org, service: "info-refs", access };
    }
    case "HEAD":
      if (serviceQuery) return notFound(`there is no repository at ${path}`);
      return expect("GET") ?? { kind: "git", org, service: "head", access: "fetch" };
    case "git-upload-pack":
      if (serviceQuery) return notFound(`there is no repository at ${path}`);
      return expect("POST") ?? { kind: "git", org, service: "upload-pack", access: "fetch" };
    default:
      if (serviceQuery) return notFound(`there is no repository at ${path}`);
      return expect("POST") ?? { kind: "git", org, service: "receive-pack", access: "push" };
  }
}

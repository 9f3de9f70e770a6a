// `--database URL`: which dialect and where, and the same URL with its password hidden for messages and logs.
import { resolve } from "node:path";
import { InvalidInputError } from "../errors.js";

export type DatabaseTarget =
  | { dialect: "sqlite"; path: string; label: string }
  | { dialect: "postgres"; url: string; label: string };

/** `sqlite:PATH` (relative to the working directory) or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?host=/dir]`. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith("sqlite:")) {
    const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (path === "") throw new InvalidInputError("--database sqlite: names no file; give sqlite:PATH");
    return { dialect: "sqlite", path: resolve(path), label: `sqlite:${resolve(path)}` };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    // Not WHATWG URL: `postgres://user@/db?host=/socket/dir` (no host) is fine for libpq and node-postgres.
    if (!/^postgres(ql)?:\/\/[^/]*\/[^/?]+/.test(url)) {
      throw new InvalidInputError(
        `--database ${hidePassword(url)} names no database; give postgres://USER@HOST:PORT/DB (or ?host=/socket/dir)`,
      );
    }
    return { dialect: "postgres", url, label: hidePassword(url) };
  }
  throw new InvalidInputError(
    `--database ${hidePassword(url)}: unknown kind of database; give sqlite:PATH or postgres://USER@HOST:PORT/DB`,
  );
}

/** The URL with any password replaced by `***`. */
export function hidePassword(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*):[^@]*@/i, "$1:***@");
}

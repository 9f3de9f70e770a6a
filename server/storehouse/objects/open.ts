// `--nar-store URL` → the object store it names: `file:DIR` or `s3://BUCKET/PREFIX?endpoint=…&region=…`.
import { resolve } from "node:path";
import { InvalidInputError } from "../../errors.js";
import { FileObjectStore } from "./file.js";
import type { ObjectStore } from "./object-store.js";
import { type S3Location, S3ObjectStore } from "./s3.js";

const USAGE =
  "give file:DIR, or s3://BUCKET/PREFIX?endpoint=http://HOST:PORT&region=REGION (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)";

/** The S3 location in an `s3://` URL; InvalidInputError saying what is wrong with it otherwise. */
export function parseS3Url(text: string): S3Location {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidInputError(`--nar-store ${JSON.stringify(text)} is not a URL; ${USAGE}`);
  }
  const bucket = url.hostname;
  // S3's own rules for bucket names (3–63 of a-z 0-9 . -), so a typo fails here and not at the first upload.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new InvalidInputError(
      `--nar-store ${text}: "${bucket}" is not a bucket name (3 to 63 characters of a-z, 0-9, '.' and '-'); ${USAGE}`,
    );
  }
  const prefix = url.pathname.replace(/^\/+|\/+$/g, "");
  if (prefix && !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(prefix)) {
    throw new InvalidInputError(
      `--nar-store ${text}: the prefix "${prefix}" may hold only A-Z a-z 0-9 . _ - and /`,
    );
  }
  const known = new Set(["endpoint", "region", "path-style"]);
  for (const k of url.searchParams.keys()) {
    if (!known.has(k))
      throw new InvalidInputError(
        `--nar-store ${text}: unknown setting "${k}" (known: endpoint, region, path-style)`,
      );
  }
  const endpoint = url.searchParams.get("endpoint") ?? undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(endpoint)) {
    throw new InvalidInputError(
      `--nar-store ${text}: endpoint "${endpoint}" is not http(s)://HOST[:PORT]; the bucket goes in the s3:// part`,
    );
  }
  const pathStyle = url.searchParams.get("path-style");
  if (pathStyle !== null && pathStyle !== "true" && pathStyle !== "false") {
    throw new InvalidInputError(`--nar-store ${text}: path-style is true or false, not "${pathStyle}"`);
  }
  return {
    bucket,
    prefix: prefix ? `${prefix}/` : "",
    endpoint: endpoint?.replace(/\/$/, ""),
    region: url.searchParams.get("region") || process.env.AWS_REGION || "us-east-1",
    // A self-hosted endpoint is almost always an address without per-bucket host names.
    pathStyle: pathStyle === null ? endpoint !== undefined : pathStyle === "true",
  };
}

/** Opens the store `url` names; `defaultDir` (DATA_DIR/store) when none is given. */
export function openObjectStore(url: string | undefined, defaultDir: string): ObjectStore {
  if (url === undefined || url === "") return new FileObjectStore(defaultDir);
  if (url.startsWith("file:")) {
    const dir = url.slice("file:".length).replace(/^\/\/(?=\/)/, "");
    if (!dir) throw new InvalidInputError(`--nar-store ${url} names no directory; ${USAGE}`);
    return new FileObjectStore(resolve(dir));
  }
  if (url.startsWith("s3://")) return new S3ObjectStore(parseS3Url(url));
  throw new InvalidInputError(`--nar-store ${JSON.stringify(url)} is neither file: nor s3://; ${USAGE}`);
}

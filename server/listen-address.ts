// Parses `--listen HOST:PORT` and turns it back into URLs.
import { isIPv6 } from "node:net";
import { InvalidInputError } from "./errors.js";

export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT`, `[IPV6]:PORT`, or a bare `PORT` (loopback). Port 0 picks a free one. */
export function parseListen(value: string): ListenAddress {
  const v = value.trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(v) ?? /^()()(\d{1,5})$/.exec(v);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new InvalidInputError(
      `--listen ${JSON.stringify(value)} is not HOST:PORT; try 127.0.0.1:8080, or 127.0.0.1:0 to pick a free port`,
    );
  }
  return { host: m[1] || m[2] || "127.0.0.1", port };
}

function hostForUrl(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}

export function urlOf(host: string, port: number): string {
  return `http://${hostForUrl(host)}:${port}`;
}

/** How processes on this machine (the git hooks) reach the server: loopback unless bound to one address. */
export function localUrl(host: string, port: number): string {
  if (host === "0.0.0.0" || host === "localhost" || host.startsWith("127.")) return urlOf("127.0.0.1", port);
  if (host === "::" || host === "::1") return urlOf("::1", port);
  return urlOf(host, port);
}

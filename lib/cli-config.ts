// Where the `flox` CLI finds its server and token: flags, then the environment, then the file `flox login` saved.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { z } from "zod";

/** A problem with the CLI's configuration, written for the user. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** What `flox login` saves. */
export interface SavedLogin {
  server: string;
  token: string;
}

const savedLoginSchema = z.object({ server: z.string().min(1), token: z.string().min(1) });

type Env = Record<string, string | undefined>;

/** `$XDG_CONFIG_HOME/flox/config.json`, or `~/.config/flox/config.json`. */
export function configPath(env: Env = process.env): string {
  // The XDG spec says relative values are invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), ".config");
  return join(base, "flox", "config.json");
}

/** Accepts `host:port` as well as a full URL; the answer has a scheme and no trailing slash. */
export function normalizeServerUrl(input: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `http://${input}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ConfigError(`not a server URL: ${JSON.stringify(input)} (expected e.g. http://127.0.0.1:8080)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(
      `not a server URL: ${JSON.stringify(input)} (only http:// and https:// are supported)`,
    );
  }
  if (url.username || url.password) {
    throw new ConfigError("put the token in --token or FLOX_TOKEN, not in the server URL");
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

/** The saved login, or undefined when there is none. A damaged file is an error, not a silent logout. */
export async function readSavedLogin(env: Env = process.env): Promise<SavedLogin | undefined> {
  const path = configPath(env);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  const parsed = savedLoginSchema.safeParse(data);
  if (!parsed.success) {
    throw new ConfigError(`${path} is damaged: run \`flox login URL\` again, or delete it`);
  }
  return parsed.data;
}

/** Saves the login readable by its owner only; returns the file's path. */
export async function saveLogin(login: SavedLogin, env: Env = process.env): Promise<string> {
  const path = configPath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Written beside the target and renamed over it, so a crash never leaves half a file or a readable token.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600, flag: "wx" });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new ConfigError(`cannot save the login to ${path}: ${(err as Error).message}`);
  }
  return path;
}

/** Forgets the saved login; true when there was one. */
export async function removeSavedLogin(env: Env = process.env): Promise<boolean> {
  const path = configPath(env);
  try {
    await rm(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new ConfigError(`cannot remove ${path}: ${(err as Error).message}`);
  }
}

export type Source = "flag" | "env" | "config";

/** The server and token a command will use, and where each came from. */
export interface Connection {
  server: string;
  token: string | undefined;
  serverFrom: Source;
  tokenFrom: Source | undefined;
}

/** Flags win over FLOX_SERVER/FLOX_TOKEN, which win over the saved login. */
export async function resolveConnection(
  flags: { server?: string | undefined; token?: string | undefined },
  env: Env = process.env,
): Promise<Connection> {
  let server: string | undefined;
  let serverFrom: Source | undefined;
  if (flags.server) [server, serverFrom] = [flags.server, "flag"];
  else if (env.FLOX_SERVER) [server, serverFrom] = [env.FLOX_SERVER, "env"];

  let token: string | undefined;
  let tokenFrom: Source | undefined;
  if (flags.token) [token, tokenFrom] = [flags.token, "flag"];
  else if (env.FLOX_TOKEN) [token, tokenFrom] = [env.FLOX_TOKEN, "env"];

  const saved = server && token ? undefined : await readSavedLogin(env);
  if (!server && saved) [server, serverFrom] = [saved.server, "config"];
  if (!server || !serverFrom) {
    throw new ConfigError(
      "no server configured: pass --server URL, set FLOX_SERVER, or run `flox login URL`",
    );
  }
  // Several servers of one fleet: `URL1,URL2,…`, each part normalized alike.
  server = server
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(normalizeServerUrl)
    .join(",");
  // The saved token belongs to the saved server: never send it to another one named by a flag or FLOX_SERVER.
  if (!token && saved && normalizeServerUrl(saved.server) === server)
    [token, tokenFrom] = [saved.token, "config"];
  return { server, token, serverFrom, tokenFrom };
}

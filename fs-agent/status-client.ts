// Talking to a running agent through its status socket (CACHE_DIR/agent.sock): GET /status, and POST /download
// whose answer is one JSON line per progress step. Used by `flox agent status`, `flox watch` and `flox download`.
import { request } from "node:http";
import { createInterface } from "node:readline";
import type { AgentStatus } from "./agent.js";
import type { DownloadProgress } from "./profiles.js";

export class AgentUnreachableError extends Error {
  override name = "AgentUnreachableError";
}

function call(socketPath: string, method: string, path: string) {
  return new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
    const req = request({ socketPath, method, path, host: "agent" }, resolve);
    req.on("error", (err) =>
      reject(
        new AgentUnreachableError(
          `no agent answers on ${socketPath} (${err.message}); is \`flox agent --cache-dir …\` running?`,
        ),
      ),
    );
    req.end();
  });
}

export async function fetchStatus(socketPath: string): Promise<AgentStatus> {
  const res = await call(socketPath, "GET", "/status");
  let body = "";
  res.setEncoding("utf8");
  for await (const chunk of res) body += chunk;
  if (res.statusCode !== 200) throw new Error(`agent status: HTTP ${res.statusCode}: ${body}`);
  return JSON.parse(body) as AgentStatus;
}

/** Asks the agent to download `profile`'s closure; `onProgress` sees each step; answers the last figures. */
export async function requestDownload(
  socketPath: string,
  profile: string,
  onProgress: (p: DownloadProgress) => void,
): Promise<DownloadProgress> {
  const res = await call(socketPath, "POST", `/download?profile=${encodeURIComponent(profile)}`);
  let last: DownloadProgress | undefined;
  for await (const line of createInterface({ input: res })) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line) as { progress?: DownloadProgress; done?: DownloadProgress; error?: string };
    if (msg.error) throw new Error(msg.error);
    if (msg.progress) onProgress(msg.progress);
    if (msg.done) last = msg.done;
  }
  if (!last) throw new Error("the agent ended the download without an answer (did it stop?)");
  return last;
}

// The git routes' own answers (refusals, failures): a short text that git prints after "remote:" or "fatal:".
import type { ServerResponse } from "node:http";

export function plainAnswer(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-cache",
    ...headers,
  });
  res.end(`${message}\n`);
}

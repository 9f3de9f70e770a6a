// Reading Nix's error output (2.8: `error: MESSAGE`, then `at FILE:LINE:COL:` and trace frames) into positions.
import { relative, sep } from "node:path";

export interface Position {
  file: string;
  line: number;
}

export interface NixError {
  message: string;
  /** Positions named inside the message itself (e.g. "anonymous function at F:1:1 called …"). */
  inMessage: Position[];
  /** The error's own position, then the trace's, innermost first. */
  at: Position[];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters
export const ansi = /\x1b\[[0-9;]*m/g;

export function parseNixError(stderr: string): NixError | null {
  const lines = stderr.replace(ansi, "").split("\n");
  const start = lines.findIndex((l) => l.startsWith("error: "));
  if (start < 0) return null;
  const messageLines: string[] = [(lines[start] ?? "").slice("error: ".length)];
  let i = start + 1;
  for (; i < lines.length; i++) {
    const l = lines[i] ?? "";
    if (l.trim() === "" || /^\s+(at |… )/.test(l)) break;
    messageLines.push(l.trim());
  }
  const message = messageLines.join(" ").trim();
  const inMessage = [...message.matchAll(/ at (\/[^:\s]+):(\d+):\d+/g)].map((m) => ({
    file: m[1] ?? "",
    line: Number(m[2]),
  }));
  const at: Position[] = [];
  for (; i < lines.length; i++) {
    const m = /^\s+at (\/.+?):(\d+):\d+:$/.exec(lines[i] ?? "");
    if (m) at.push({ file: m[1] ?? "", line: Number(m[2]) });
  }
  return { message, inMessage, at };
}

export function isInside(root: string, file: string): boolean {
  return file.startsWith(root + sep);
}

export function toRepoPath(root: string, file: string): string {
  return relative(root, file).split(sep).join("/");
}

/** The last non-empty line of Nix's stderr: its message when nothing better can be parsed. */
export function lastLine(s: string): string {
  return (
    s
      .replace(ansi, "")
      .trim()
      .split("\n")
      .filter((l) => l.trim())
      .pop() ?? ""
  );
}

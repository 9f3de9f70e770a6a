// Reading Nix's error output (2.8's and 2.26's layouts) into a message and positions.
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

/**
 * Nix 2.8 prints `error: MESSAGE`, its position, then trace frames innermost first. Nix 2.26 (with a trace) prints
 * a bare `error:`, the frames outermost first, then the indented `error: MESSAGE` and its position last. Both come
 * out as the same NixError: the message, then its own position and the frames innermost first.
 */
export function parseNixError(stderr: string): NixError | null {
  const lines = stderr.replace(ansi, "").split("\n");
  const errorLines = lines.flatMap((l, i) => (/^\s*error:( |$)/.test(l) && l.trim() !== "error:" ? [i] : []));
  const start = errorLines.at(-1);
  if (start === undefined) return null;
  const traced = lines.findIndex((l) => /^\s*error:/.test(l)) < start; // 2.26: frames came before the message
  const messageLines: string[] = [(lines[start] ?? "").trim().slice("error: ".length)];
  let i = start + 1;
  for (; i < lines.length; i++) {
    const l = lines[i] ?? "";
    if (l.trim() === "" || /^\s+(at |… )/.test(l) || /^\(use '--show-trace'/.test(l)) break;
    messageLines.push(l.trim());
  }
  const message = normalizeMessage(messageLines.join(" ").trim());
  const inMessage = [...message.matchAll(/ at (\/[^:\s]+):(\d+):\d+/g)].map((m) => ({
    file: m[1] ?? "",
    line: Number(m[2]),
  }));
  const positionsIn = (from: number, to: number) =>
    lines.slice(from, to).flatMap((l) => {
      const m = /^\s+at (\/.+?):(\d+):\d+:$/.exec(l);
      return m ? [{ file: m[1] ?? "", line: Number(m[2]) }] : [];
    });
  const at = traced
    ? [...positionsIn(start + 1, lines.length), ...positionsIn(0, start).reverse()]
    : positionsIn(i, lines.length);
  return { message, inMessage, at };
}

/** 2.26 names parser tokens IN_KW, THEN_KW…; 2.8 says IN, THEN: pushers see 2.8's words under either. */
function normalizeMessage(message: string): string {
  return message.replace(/\b([A-Z]+)_KW\b/g, "$1");
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

// Exit codes and printing shared by every command.

export const exitCodes = { ok: 0, failed: 1, usage: 2 } as const;

/** An error meant for the user: its message is printed as is, with no stack. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = exitCodes.failed,
  ) {
    super(message);
  }
}

/** Colour only on a terminal and never when NO_COLOR is set (https://no-color.org). */
export const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;

export function paint(code: number, text: string): string {
  return useColor ? `\x1b[${code}m${text}\x1b[0m` : text;
}
export const bold = (t: string) => paint(1, t);
export const dim = (t: string) => paint(2, t);
export const red = (t: string) => paint(31, t);
export const green = (t: string) => paint(32, t);

/** Prints `data` as JSON when --json was given, else calls `human` to print it for people. */
export function emit(json: boolean | undefined, data: unknown, human: () => void): void {
  if (json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else human();
}

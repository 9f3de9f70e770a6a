// The terminal side of `flox init`'s questions: @inquirer/prompts, loaded only when there is a
// terminal to ask on.
import type { Prompter } from "./answers.js";

export async function terminalPrompter(): Promise<Prompter | null> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) return null;
  const { input, select } = await import("@inquirer/prompts");
  return {
    input: (q) => input({ message: q.message, default: q.default, validate: q.validate }),
    select: (q) => select({ message: q.message, choices: q.choices, default: q.default, pageSize: 14 }),
  };
}

// What several command definitions share in their --help: the examples section and the role names offered.
import type { Command } from "commander";

/** The roles a member or an org token may have (`--role`). */
export const roles = ["owner", "member", "reader"];

/** Appends an "Examples:" section to a command's --help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`);
}

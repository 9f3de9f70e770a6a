// What several command definitions share in their --help: the examples section and the role names offered.
import type { Command } from "commander";

/** The roles a member or an org token may have (`--role`): the API's own list, which loads no zod. */
export { roles } from "../../lib/api/enums.js";

/** Appends an "Examples:" section to a command's --help. */
export function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`);
}

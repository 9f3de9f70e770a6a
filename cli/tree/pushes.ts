// `flox pushes`: what was pushed and what the gate said. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerPushes(program: Command): void {
  const pushes = program
    .command("pushes")
    .description("list the pushes an org's repo received, newest first")
    .argument("<org>", "org name")
    .action(async (org: string, _opts, cmd: Command) =>
      (await import("../commands/pushes.js")).listPushes(cmd, org),
    );
  examples(pushes, ["flox pushes acme", "flox pushes acme --json"]);
}

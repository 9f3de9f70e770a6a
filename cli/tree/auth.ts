// `flox login`, `logout`, `whoami`: which server and token the CLI uses. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerAuth(program: Command): void {
  const login = program
    .command("login")
    .description("check a server URL and token, and save both for later commands")
    .argument("<url>", "the flox server, e.g. http://127.0.0.1:8080")
    .action(async (url: string, _opts, cmd: Command) =>
      (await import("../commands/auth.js")).login(cmd, url),
    );
  login.addHelpText(
    "after",
    `
The token comes from --token, else $FLOX_TOKEN, else a prompt (or the first line of stdin when it
is not a terminal). It is saved with the URL in $XDG_CONFIG_HOME/flox/config.json (mode 0600).

Examples:
  flox login http://127.0.0.1:8080                 prompts for the token
  flox login http://flox.internal --token flox_…
  echo "$TOKEN" | flox login http://flox.internal
`,
  );

  const logout = program
    .command("logout")
    .description("forget the server and token saved by `flox login`")
    .action(async (_opts, cmd: Command) => (await import("../commands/auth.js")).logout(cmd));
  examples(logout, ["flox logout"]);

  const whoami = program
    .command("whoami")
    .description("show which server and token the next command would use, and what the token may do")
    .action(async (_opts, cmd: Command) => (await import("../commands/auth.js")).whoami(cmd));
  examples(whoami, ["flox whoami", "flox whoami --json", "FLOX_TOKEN=flox_… flox whoami"]);
}

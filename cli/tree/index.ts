// Registers every subcommand, one module per command group. Each action imports its implementation (cli/commands/)
// on demand, so that defining the whole tree costs only commander: `flox --version` and `--help` never load zod
// or the API client.
import type { Command } from "commander";
import { registerAgent } from "./agent.js";
import { registerAuth } from "./auth.js";
import { registerBuilder } from "./builder.js";
import { registerBuilds } from "./builds.js";
import { registerChannels } from "./channels.js";
import { registerCi } from "./ci.js";
import { registerDaemon } from "./daemon.js";
import { registerLocal } from "./local.js";
import { registerMachines } from "./machines.js";
import { registerOrg } from "./org.js";
import { registerProfiles } from "./profiles.js";
import { registerPushes } from "./pushes.js";
import { registerServer } from "./server.js";
import { registerStorehouse } from "./storehouse.js";
import { registerToken } from "./token.js";
import { registerUser } from "./user.js";

export function registerCommands(program: Command): void {
  registerServer(program);
  registerLocal(program);
  registerAuth(program);
  registerOrg(program);
  registerUser(program);
  registerToken(program);
  registerPushes(program);
  registerCi(program);
  registerBuilds(program);
  registerChannels(program);
  registerProfiles(program);
  registerBuilder(program);
  registerMachines(program);
  registerAgent(program);
  registerStorehouse(program);
  registerDaemon(program);
}

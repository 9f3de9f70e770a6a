// `flox channels`, `channel …`: where each jobset's channel points, pins. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerChannels(program: Command): void {
  const load = () => import("../commands/channels.js");
  const channels = program
    .command("channels")
    .description("list the channels (one per jobset) and where each points")
    .action(async (_opts, cmd: Command) => (await load()).listChannels(cmd));
  examples(channels, ["flox channels", "flox channels --json"]);

  const channel = program
    .command("channel")
    .description("show a channel, its history, or pin it to an evaluation")
    .addHelpText(
      "after",
      `
A channel is named ORG (the org's main branch) or ORG/BRANCH. It follows the branch's newest green
evaluation (every job built; or, with [channel] gate = [...] in flox.toml, the named jobs).
Use it from any Nix: nix-channel --add http://HOST/channels/ORG ORG && nix-channel --update

Examples:
  flox channel show acme
  flox channel history acme/staging
  flox channel pin acme --eval 12
`,
    );
  const show = channel
    .command("show")
    .description("where the channel points, its URL, and the packages it publishes")
    .argument("<channel>", "ORG or ORG/BRANCH")
    .action(async (name: string, _opts, cmd: Command) => (await load()).showChannel(cmd, name));
  examples(show, ["flox channel show acme", "flox channel show acme/staging --json"]);
  const history = channel
    .command("history")
    .description("every point the channel was at, oldest first: evaluation, commit, CI or who pinned it")
    .argument("<channel>", "ORG or ORG/BRANCH")
    .action(async (name: string, _opts, cmd: Command) => (await load()).channelHistory(cmd, name));
  examples(history, ["flox channel history acme"]);
  const pin = channel
    .command("pin")
    .description("point the channel at an evaluation (e.g. an earlier one) and keep it there")
    .argument("<channel>", "ORG or ORG/BRANCH")
    .requiredOption("--eval <n>", "the evaluation to publish (its jobs must be built)")
    .action(async (name: string, opts, cmd: Command) => (await load()).pinChannel(cmd, name, opts));
  examples(pin, ["flox channel pin acme --eval 12"]);
  const unpin = channel
    .command("unpin")
    .description("let the channel follow new green evaluations again")
    .argument("<channel>", "ORG or ORG/BRANCH")
    .action(async (name: string, _opts, cmd: Command) => (await load()).unpinChannel(cmd, name));
  examples(unpin, ["flox channel unpin acme"]);
}

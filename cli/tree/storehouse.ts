// `flox gc`, `flox pin …` and `flox storehouse usage`: the Storehouse's lifecycle. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerStorehouse(program: Command): void {
  const gc = program
    .command("gc")
    .description(
      "garbage-collect the Storehouse: delete the paths no root keeps (newest evaluations, recent channel points, live profile generations, pins, running builds), with their logs and tarballs",
    )
    .option("--dry-run", "only list what would go and what it frees")
    .option("--org <org>", "only the paths uploaded for this org (its owner may run this)")
    .action(async (_opts, cmd: Command) => (await import("../commands/storehouse.js")).runGc(cmd));
  examples(gc, ["flox gc --dry-run", "flox gc", "flox gc --org acme --json"]);

  const pin = program
    .command("pin")
    .description("keep store paths (with their closure) in the Storehouse by hand");
  examples(pin, [
    "flox pin add /nix/store/…-hello-2.12 --name hello-release --until 2027-01-31",
    "flox pin list",
    "flox pin remove hello-release",
  ]);
  const add = pin
    .command("add")
    .description("pin a store path: GC keeps it and its whole closure (admin; an org's owner with --org)")
    .argument("<path>", "a store path, /nix/store/<hash>-<name>")
    .option("--name <name>", "a name to remove it by")
    .option("--until <date>", "the pin lapses then (2027-01-31 or an ISO 8601 time)")
    .option("--org <org>", "count it for this org")
    .action(async (path: string, _opts, cmd: Command) =>
      (await import("../commands/storehouse.js")).addPin(cmd, path),
    );
  examples(add, [
    "flox pin add /nix/store/…-hello-2.12 --name hello-release",
    "flox pin add /nix/store/…-firmware --until 2027-01-31 --org acme",
  ]);
  const list = pin
    .command("list")
    .description("list the pins")
    .action(async (_opts, cmd: Command) => (await import("../commands/storehouse.js")).listPins(cmd));
  examples(list, ["flox pin list", "flox pin list --json"]);
  const remove = pin
    .command("remove")
    .description("remove the pins with this name, or on this store path")
    .argument("<name-or-path>", "the pin's name or its store path")
    .action(async (ref: string, _opts, cmd: Command) =>
      (await import("../commands/storehouse.js")).removePins(cmd, ref),
    );
  examples(remove, ["flox pin remove hello-release", "flox pin remove /nix/store/…-hello-2.12"]);

  const storehouse = program.command("storehouse").description("the Storehouse (binary cache) in figures");
  examples(storehouse, ["flox storehouse usage", "flox storehouse usage --org acme"]);
  const usage = storehouse
    .command("usage")
    .description("bytes per org, the GC roots by kind, what the next GC would free, and the last run")
    .option("--org <org>", "one org (a reader of it may look)")
    .action(async (_opts, cmd: Command) => (await import("../commands/storehouse.js")).showUsage(cmd));
  examples(usage, ["flox storehouse usage", "flox storehouse usage --org acme --json"]);
}

// flox init: in an empty directory with --org, the org's nixexprs checkout; inside a checkout, a new
// package from a template (asked for on a terminal, or given by flags).
import { relative } from "node:path";
import type { Command } from "commander";
import { connect, globals } from "../context.js";
import { type Decided, decideAnswers, type InitFlags } from "../init/answers.js";
import { cloneOrg, type OrgCheckout } from "../init/clone-org.js";
import { terminalPrompter } from "../init/prompter.js";
import { ensureGitignore, writePackage } from "../init/scaffold.js";
import { resolveSource } from "../init/source.js";
import { findTemplate } from "../init/templates/index.js";
import { askServerBaseSet } from "../local/base-choice.js";
import { findGitRoot, isNixexprsCheckout, listPackages, listPackagesWithDefault } from "../local/checkout.js";
import { bold, CliError, dim, emit, exitCodes, green } from "../output.js";

export interface InitOptions extends InitFlags {
  org?: string;
}

export async function init(cmd: Command, opts: InitOptions): Promise<void> {
  const json = globals(cmd).json === true;
  const cwd = process.cwd();
  const say = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };
  let checkout: OrgCheckout | undefined;
  if (opts.org !== undefined) {
    const { client, connection } = await connect(cmd);
    checkout = await cloneOrg(
      client,
      { server: connection.server, token: connection.token ?? "" },
      opts.org,
      cwd,
    );
    say(
      `${green("cloned")} ${checkout.repoUrl} into ${cwd}` +
        `${checkout.createdOrg ? ` (created the org ${opts.org})` : ""}${checkout.emptyRepo ? " (a new, empty repo)" : ""}`,
    );
    for (const f of checkout.scaffolded) say(`  wrote ${f}`);
    const wantsPackage =
      opts.name !== undefined || (!opts.yes && process.stdin.isTTY && process.stdout.isTTY);
    if (!wantsPackage) {
      say("\nNext: flox init (asks for a package), then git add, git commit and git push.");
      emit(json, { checkout }, () => {});
      return;
    }
  }

  const root = await findGitRoot(cwd);
  if (!root || !(await isNixexprsCheckout(root))) {
    throw new CliError(
      root
        ? `${root} does not look like a nixexprs checkout (no pkgs/ and no …/nixexprs.git remote): run flox init in a clone of your org's repo`
        : "not in a git checkout: run flox init --org ORG in an empty directory to clone your org's repo, or cd into it",
      exitCodes.usage,
    );
  }
  const existing = await listPackages(root);
  const packages = await listPackagesWithDefault(root);
  const prompter = opts.yes ? null : await terminalPrompter();
  let decided: Decided;
  try {
    decided = await decideAnswers(opts, { cwd, root, existing, packages, prompter });
  } catch (err) {
    // Ctrl-C (or Ctrl-D) at a question: nothing was written.
    if ((err as Error).name === "ExitPromptError") throw new CliError("cancelled: nothing was written");
    throw err;
  }
  const template = findTemplate(decided.template);
  if (!template) throw new CliError(`no template ${decided.template}`, exitCodes.usage);
  if (decided.source.kind === "url" || decided.source.kind === "git")
    say(dim(`fetching ${decided.source.url} to compute its hash…`));
  const resolved = await resolveSource(decided.source, cwd, root, decided.name);
  const files = template.render(
    {
      name: decided.name,
      version: decided.version,
      description: decided.description,
      license: decided.license,
      source: resolved.source,
    },
    { writeExample: resolved.writeExample },
  );
  const written = await writePackage(root, decided.name, files);
  if (await ensureGitignore(root)) written.push(".gitignore");
  // Whether the server can take this template, when it says which base set it has.
  const server = template.bootstrapBuilds ? null : await askServerBaseSet(cmd);
  const where = (p: string) => relative(cwd, `${root}/${p}`) || ".";

  emit(
    json,
    {
      ...(checkout ? { checkout } : {}),
      package: {
        name: decided.name,
        template: template.id,
        version: decided.version,
        description: decided.description,
        license: decided.license,
        source: resolved.source,
        bootstrapBuilds: template.bootstrapBuilds,
      },
      files: written,
      notes: resolved.notes,
    },
    () => {
      for (const n of resolved.notes) say(n);
      if (decided.detected) say(`template ${template.id}: ${decided.detected}`);
      say(`${green("created")} ${bold(`pkgs/${decided.name}`)} from the ${template.id} template:`);
      for (const f of written) say(`  ${where(f)}`);
      if (!template.bootstrapBuilds) {
        const needs = `the ${template.id} template needs nixpkgs as the base set (flox server --base PATH)`;
        if (server?.baseSet.kind === "bootstrap") {
          say(
            `warning: ${needs}, and ${server.url} uses flox's bootstrap set, which cannot build it ` +
              "(flox check shows what it lacks): the server needs --base with a nixpkgs checkout",
          );
        } else if (server?.baseSet.kind !== "nixpkgs") {
          say(
            `note: ${needs}; the bootstrap set cannot evaluate what it does not provide (flox check says which).`,
          );
        }
      }
      say(`
Next:
  flox check                 run the push gate's checks on your work tree
  flox build ${decided.name.padEnd(15)} build it here (the log shows); --remote builds it on the server
  git add -A && git commit -m "${decided.name}: new package" && git push`);
    },
  );
}

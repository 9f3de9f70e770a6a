// The package `flox init` writes: every answer from its flag, else from the prompt (on a terminal),
// else its default (--yes). Validation is the same for all three.
import { CliError, exitCodes } from "../output.js";
import { detectTemplate } from "./detect.js";
import { packageNameProblems } from "./names.js";
import { localSourceDir, parseSourceSpec, type SourceSpec } from "./source.js";
import { findTemplate, templates } from "./templates/index.js";

export interface InitFlags {
  name?: string;
  template?: string;
  pkgVersion?: string;
  description?: string;
  license?: string;
  src?: string;
  gitRef?: string;
  yes?: boolean;
}

export interface Choice {
  value: string;
  name: string;
  description?: string;
}

/** How questions are asked; null when there is no terminal to ask on. */
export interface Prompter {
  input(q: { message: string; default?: string; validate?: (v: string) => string | true }): Promise<string>;
  select(q: { message: string; choices: Choice[]; default?: string }): Promise<string>;
}

export interface Decided {
  name: string;
  template: string;
  /** Why this template was proposed (detection), when it was. */
  detected?: string;
  version: string;
  description: string;
  license: string;
  source: SourceSpec;
}

/** nixpkgs' `lib.licenses` attributes the bootstrap base set has too. */
export const licenses = [
  "mit",
  "asl20",
  "bsd2",
  "bsd3",
  "isc",
  "mpl20",
  "gpl2Only",
  "gpl2Plus",
  "gpl3Only",
  "gpl3Plus",
  "lgpl21Plus",
  "unlicense",
  "publicDomain",
  "unfree",
];

export const validVersion = (v: string): string | true =>
  /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(v) ||
  "a version starts with a letter or digit and holds only letters, digits and . _ + -, e.g. 1.0.2";

const usage = (message: string) => new CliError(message, exitCodes.usage);

export async function decideAnswers(
  flags: InitFlags,
  ctx: { cwd: string; root: string; existing: string[]; packages: string[]; prompter: Prompter | null },
): Promise<Decided> {
  const ask = flags.yes ? null : ctx.prompter;

  // Name: validated exactly as the push gate validates package directories.
  const nameCheck = (v: string): string | true =>
    packageNameProblems(v.trim(), ctx.existing, ctx.packages)[0] ?? true;
  let name: string;
  if (flags.name !== undefined) {
    const bad = nameCheck(flags.name);
    if (bad !== true) throw usage(`--name ${flags.name}: ${bad}`);
    name = flags.name;
  } else if (ask) {
    name = (
      await ask.input({ message: "Package name (its directory: pkgs/<name>)", validate: nameCheck })
    ).trim();
  } else {
    throw usage("--name NAME is needed without a terminal to ask on (e.g. flox init --name hello --yes)");
  }

  // Source before template: what is in the sources proposes the template.
  let source: SourceSpec;
  if (flags.src !== undefined) {
    source = parseSourceSpec(flags.src, flags.gitRef);
  } else if (ask) {
    const kind = await ask.select({
      message: "Where are its sources?",
      default: "example",
      choices: [
        { value: "example", name: `New: write an example in pkgs/${name}/src for me` },
        { value: "local", name: "A directory here (copied into the package unless it is already in it)" },
        { value: "url", name: "A URL (downloaded now to compute its hash)" },
        { value: "git", name: "A git repo (cloned now to compute its hash)" },
      ],
    });
    if (kind === "example") source = { kind: "example" };
    else if (kind === "local") {
      source = {
        kind: "local",
        path: await ask.input({ message: "Directory of the sources", validate: nonEmpty }),
      };
    } else if (kind === "url") {
      source = {
        kind: "url",
        url: await ask.input({
          message: "URL of the sources",
          validate: (v) => /^https?:\/\/\S+$/.test(v.trim()) || "an http(s) URL",
        }),
      };
    } else {
      const url = await ask.input({ message: "git repo URL", validate: nonEmpty });
      const ref = await ask.input({ message: "Branch, tag or commit", default: "HEAD" });
      source = { kind: "git", url: url.trim(), ref: ref.trim() || undefined };
    }
  } else {
    source = { kind: "example" };
  }

  const dir = localSourceDir(source, ctx.cwd, ctx.root, name);
  const detection = dir ? await detectTemplate(dir) : null;
  const proposed = detection?.template ?? "shell";
  let template: string;
  if (flags.template !== undefined) {
    if (!findTemplate(flags.template)) {
      throw usage(
        `--template ${flags.template}: no such template; one of ${templates.map((t) => t.id).join(", ")}`,
      );
    }
    template = flags.template;
  } else if (ask) {
    template = await ask.select({
      message: `Template${detection?.template ? ` (proposed: ${detection.reason})` : ""}`,
      default: proposed,
      choices: templates.map((t) => ({
        value: t.id,
        name: `${t.title}: ${t.summary}`,
        description: t.bootstrapBuilds
          ? "builds with flox's bootstrap base set"
          : "needs nixpkgs as the server's base set",
      })),
    });
  } else {
    template = proposed;
  }

  const version = await answer(flags.pkgVersion, ask, "Version", "0.1.0", validVersion, "--version");
  const description = await answer(
    flags.description,
    ask,
    "One-line description",
    `${name}, packaged with flox`,
    nonEmpty,
    "--description",
  );
  let license: string;
  if (flags.license !== undefined) {
    if (!licenses.includes(flags.license))
      throw usage(`--license ${flags.license}: one of ${licenses.join(", ")} (nixpkgs' lib.licenses names)`);
    license = flags.license;
  } else if (ask) {
    license = await ask.select({
      message: "License",
      default: "mit",
      choices: licenses.map((l) => ({ value: l, name: l })),
    });
  } else {
    license = "mit";
  }
  return {
    name,
    template,
    ...(detection?.template && detection.template === template ? { detected: detection.reason } : {}),
    version,
    description: description.trim(),
    license,
    source,
  };
}

function nonEmpty(v: string): string | true {
  return v.trim() !== "" || "give a value";
}

async function answer(
  flag: string | undefined,
  ask: Prompter | null,
  message: string,
  fallback: string,
  validate: (v: string) => string | true,
  flagName: string,
): Promise<string> {
  if (flag !== undefined) {
    const bad = validate(flag);
    if (bad !== true) throw usage(`${flagName} ${flag}: ${bad}`);
    return flag;
  }
  if (ask) return (await ask.input({ message, default: fallback, validate })).trim();
  return fallback;
}

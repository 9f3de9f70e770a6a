// `flox.toml`, a repo's optional settings, read by the push gate (to refuse a bad one) and by the evaluator
// (to know when the branch's channel may advance). Pure: text in, settings or problems out.
import { parse, TomlError } from "smol-toml";

export interface FloxSettings {
  repo: {
    /** Shown with the org's repo; free text. */
    description: string | null;
  };
  channel: {
    /**
     * The jobs that must succeed for the channel to advance to an evaluation. null: every job, and no
     * evaluation problems (the default policy).
     */
    gate: string[] | null;
  };
}

export interface SettingsProblem {
  line: number;
  message: string;
  hint: string;
}

export const DEFAULT_SETTINGS: FloxSettings = { repo: { description: null }, channel: { gate: null } };

const EXAMPLE = 'e.g. a table [channel] with gate = ["hello", "tests"]';

/** The settings, or every problem found (line numbers are 1-based; 1 when TOML does not say). */
export function parseFloxToml(
  text: string,
  packages: readonly string[],
): { settings: FloxSettings; problems: SettingsProblem[] } {
  let data: Record<string, unknown>;
  try {
    data = parse(text) as Record<string, unknown>;
  } catch (err) {
    const line = err instanceof TomlError ? err.line : 1;
    const message = (err as Error).message.split("\n")[0] ?? "not valid TOML";
    return {
      settings: DEFAULT_SETTINGS,
      problems: [{ line, message: `not valid TOML: ${message}`, hint: `see https://toml.io; ${EXAMPLE}` }],
    };
  }
  const problems: SettingsProblem[] = [];
  const lineOf = (needle: string) => {
    const i = text.split("\n").findIndex((l) => l.includes(needle));
    return i < 0 ? 1 : i + 1;
  };
  for (const key of Object.keys(data)) {
    if (key !== "channel" && key !== "repo") {
      problems.push({
        line: lineOf(key),
        message: `unknown setting "${key}"`,
        hint: `flox.toml knows [repo] (description) and [channel] (gate); ${EXAMPLE}`,
      });
    }
  }
  let description: string | null = null;
  const repo = data.repo;
  if (repo !== undefined) {
    if (typeof repo !== "object" || repo === null || Array.isArray(repo)) {
      problems.push({
        line: lineOf("repo"),
        message: "repo must be a table",
        hint: 'e.g. [repo] with description = "…"',
      });
    } else {
      for (const [key, value] of Object.entries(repo)) {
        if (key === "description" && typeof value === "string") description = value;
        else
          problems.push({
            line: lineOf(key),
            message:
              key === "description" ? "repo.description must be a string" : `unknown setting "repo.${key}"`,
            hint: '[repo] knows only description = "…"',
          });
      }
    }
  }
  let gate: string[] | null = null;
  const channel = data.channel;
  if (channel !== undefined) {
    if (typeof channel !== "object" || channel === null || Array.isArray(channel)) {
      problems.push({ line: lineOf("channel"), message: "channel must be a table", hint: EXAMPLE });
    } else {
      for (const [key, value] of Object.entries(channel)) {
        if (key !== "gate") {
          problems.push({
            line: lineOf(key),
            message: `unknown setting "channel.${key}"`,
            hint: `[channel] knows only gate; ${EXAMPLE}`,
          });
          continue;
        }
        if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string")) {
          problems.push({
            line: lineOf("gate"),
            message: "channel.gate must be a non-empty list of package names",
            hint: EXAMPLE,
          });
          continue;
        }
        const known = new Set(packages);
        for (const name of value as string[]) {
          if (!known.has(name)) {
            problems.push({
              line: lineOf("gate"),
              message: `channel.gate names "${name}", which is not a package of this repo`,
              hint: `gate jobs are directories under pkgs/: ${[...known].sort().join(", ") || "(none yet)"}`,
            });
          }
        }
        gate = [...new Set(value as string[])].sort();
      }
    }
  }
  return {
    settings: problems.length ? DEFAULT_SETTINGS : { repo: { description }, channel: { gate } },
    problems,
  };
}

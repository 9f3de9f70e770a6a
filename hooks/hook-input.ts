/** What git hands a receive hook: ref updates on stdin, push options in the environment. */

export interface RefUpdate {
  oldSha: string;
  newSha: string;
  ref: string;
}

/** `old new ref` lines as git writes them to the hook's stdin. */
export function parseUpdates(stdin: string): RefUpdate[] {
  return stdin
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .map((line) => {
      const [oldSha = "", newSha = "", ref = ""] = line.split(" ");
      return { oldSha, newSha, ref };
    });
}

/** The `-o` options of this push, from GIT_PUSH_OPTION_COUNT / GIT_PUSH_OPTION_<n>. */
export function readPushOptions(env: NodeJS.ProcessEnv = process.env): string[] {
  const count = Number(env.GIT_PUSH_OPTION_COUNT ?? 0);
  const options: string[] = [];
  for (let i = 0; i < count; i++) {
    const value = env[`GIT_PUSH_OPTION_${i}`];
    if (value !== undefined) options.push(value);
  }
  return options;
}

export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

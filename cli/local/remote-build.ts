// `flox build NAME --remote`: the work tree goes to the server's builders through the machinery a
// push already has. It is committed (on no branch of the user's) on top of HEAD, pushed with
// `-o wait` to the scratch branch flox-build/NAME, and the push shows the gate, the evaluation and
// the builds as they happen; `git push` exits 1 when anything failed.
import { execa } from "execa";
import { CliError } from "../output.js";
import { commitOfTree } from "./worktree-tree.js";

export interface RemoteBuildResult {
  branch: string;
  commit: string;
  gitRemote: string;
  exitCode: number;
}

/** The scratch branch a remote build of `name` is pushed to. */
export const scratchBranch = (name: string) => `flox-build/${name}`;

export async function remoteBuild(
  root: string,
  tree: string,
  name: string,
  opts: { remote: string },
): Promise<RemoteBuildResult> {
  const url = await execa("git", ["remote", "get-url", opts.remote], { cwd: root, reject: false });
  if (url.exitCode !== 0) {
    throw new CliError(
      `this checkout has no git remote "${opts.remote}": clone your org's repo (flox init --org ORG), or give --git-remote NAME`,
    );
  }
  const commit = await commitOfTree(root, tree, `flox build ${name} --remote: the work tree`);
  const branch = scratchBranch(name);
  const push = execa(
    "git",
    ["push", "--porcelain", "-o", "wait", opts.remote, `+${commit}:refs/heads/${branch}`],
    { cwd: root, reject: false, stdin: "ignore", stdout: "ignore", stderr: "pipe" },
  );
  push.stderr?.pipe(process.stderr, { end: false });
  const r = await push;
  return { branch, commit, gitRemote: opts.remote, exitCode: r.exitCode ?? 1 };
}

/**
 * The `post-receive` hook. Installed by the server as `exec node dist/hooks/post-receive.js`.
 *
 * This file only runs: the logic is in push-record.ts, so that importing it never starts a hook.
 */
import { readStdin } from "./hook-input.js";
import { postReceive } from "./push-record.js";

const write = (line: string) => process.stderr.write(line);
try {
  process.exitCode = await postReceive(await readStdin(), { write });
} catch (err) {
  // The refs have moved already: say what went wrong, but never report the push as failed.
  write(`flox: warning: post-receive failed: ${(err as Error).message} (the push itself went through)\n`);
}

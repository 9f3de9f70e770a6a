/**
 * The `pre-receive` hook. Installed by the server as `exec node dist/hooks/pre-receive.js`; runs
 * with the repository as working directory and receive-pack's quarantine environment.
 *
 * This file only runs: the logic is in push-check.ts, so that importing it never starts a hook.
 */
import { parseUpdates, readStdin } from "./hook-input.js";
import { preReceive } from "./push-check.js";

const write = (line: string) => process.stderr.write(line);
try {
  process.exitCode = await preReceive(parseUpdates(await readStdin()), { write });
} catch (err) {
  // Fail closed: an unchecked push must not land.
  write(
    `flox: the push gate failed, so the push was refused: ${(err as Error).message} ` +
      "(try again; if it keeps failing, tell the server admin)\n",
  );
  process.exitCode = 1;
}

// The CLI's side of choosing a Nix (--nix-bin / FLOX_NIX_BIN): check it once at a command's start, say which one
// runs, and turn "none" or "too old" into the CLI's one-line error.
import { type NixInstall, NixNotFoundError, NixTooOldError, useNix } from "../lib/nix-install.js";
import { CliError } from "./output.js";

export async function chooseNix(command: string, nixBin: string | undefined): Promise<NixInstall> {
  try {
    const nix = await useNix(nixBin);
    process.stderr.write(`flox ${command}: using ${nix.describe()}\n`);
    return nix;
  } catch (err) {
    if (err instanceof NixNotFoundError || err instanceof NixTooOldError) throw new CliError(err.message);
    throw err;
  }
}

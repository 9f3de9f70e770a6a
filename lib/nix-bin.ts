// Where flox finds the Nix programs it runs (the shared daemon, its forwarders, the build hook's imports, `flox
// nix`): one place, so that a choice of Nix (`--nix-bin DIR`) plugs in here and nowhere else.

/** The Nix programs the relay runs. */
export type NixProgram = "nix-daemon" | "nix-store" | "nix";

/** The program to run: `DIR/NAME` when a Nix directory was chosen, else NAME from PATH (Debian's nix-bin). */
export function nixProgram(name: NixProgram, nixBinDir?: string): string {
  return nixBinDir ? `${nixBinDir.replace(/\/+$/, "")}/${name}` : name;
}

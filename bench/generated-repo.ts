// The generated nixexprs repo the gate benches push: N small packages, every tenth depending on the one before.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** `variant` changes what every package echoes, so that each variant is 500 new derivations to build. */
export function writeRepo(dir: string, n: number, variant = ""): void {
  mkdirSync(join(dir, "pkgs"), { recursive: true });
  for (let i = 0; i < n; i++) {
    const name = `p${String(i).padStart(4, "0")}`;
    const dep = i % 10 === 9 ? `p${String(i - 1).padStart(4, "0")}` : null;
    const args = dep ? `{ writeShellScriptBin, ${dep} }` : "{ writeShellScriptBin }";
    const body = dep ? `"echo ${name}${variant}; \${${dep}}/bin/${dep}"` : `"echo ${name}${variant}"`;
    mkdirSync(join(dir, "pkgs", name), { recursive: true });
    writeFileSync(
      join(dir, "pkgs", name, "default.nix"),
      `${args}:\nwriteShellScriptBin "${name}" ${body}\n`,
    );
  }
  writeFileSync(join(dir, "README.md"), `${n} generated packages\n`);
}

// Wrap a prebuilt binary: the program kept in libexec/, and a wrapper script in bin/ that sets its
// environment. Builds with the bootstrap base set.
import {
  argList,
  header,
  isArchiveUrl,
  metaLines,
  nameLines,
  type PackageAnswers,
  srcLines,
  type Template,
  type TemplateFiles,
} from "./template.js";

export const binaryTemplate: Template = {
  id: "binary",
  title: "Wrap a prebuilt binary",
  summary: "a program someone else compiled, with a wrapper that sets its environment",
  bootstrapBuilds: true,
  render(a: PackageAnswers, opts): TemplateFiles {
    const singleFile = a.source.kind === "url" && !isArchiveUrl(a.source.url);
    const program = singleFile ? "$src" : a.name;
    const files: TemplateFiles = {
      "default.nix": {
        content: `${header(a, binaryTemplate)}
${argList(["lib", "stdenv", "runtimeShell"], a.source)}

# The program is used as it is; the package adds a small wrapper, bin/${a.name}, that sets the
# environment the program expects and then runs it. (With nixpkgs you would often use
# \`makeWrapper\` for the wrapper, and \`autoPatchelfHook\` for a dynamically linked program, whose
# libraries must then come from the store: a statically linked one needs neither.)
stdenv.mkDerivation {
${nameLines(a)}

${srcLines(a.source)}
${singleFile ? "  # A single file is not an archive: nothing to unpack.\n  dontUnpack = true;\n" : ""}
  dontConfigure = true;
  dontBuild = true;

  installPhase = ''
    runHook preInstall
    mkdir -p $out/libexec/${a.name} $out/bin
    cp ${program} $out/libexec/${a.name}/${a.name}
    chmod +x $out/libexec/${a.name}/${a.name}

    # The wrapper: \${runtimeShell} is the base set's shell, in the package's closure.
    cat > $out/bin/${a.name} <<EOF
    #!\${runtimeShell}
    export ${envName(a.name)}_HOME="$out"
    exec "$out/libexec/${a.name}/${a.name}" "\\$@"
    EOF
    chmod +x $out/bin/${a.name}
    runHook postInstall
  '';

${metaLines(a, [`mainProgram = "${a.name}";`])}
}
`,
      },
    };
    if (opts.writeExample && a.source.kind === "local") {
      files[`${a.source.path}/${a.name}`] = {
        executable: true,
        content: `#!/bin/sh
# A stand-in so that the package builds at once: replace this file with the prebuilt program
# (keep its name, ${a.name}, or change the cp line in ../default.nix).
echo "${a.name}: replace pkgs/${a.name}/${a.source.path}/${a.name} with the real program (${envName(a.name)}_HOME=\${${envName(a.name)}_HOME:-})"
`,
      };
    }
    return files;
  },
};

/** An environment variable's stem from a package name: `my-tool.x` → `MY_TOOL_X`. */
function envName(name: string): string {
  const stem = name.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
  return /^[0-9]/.test(stem) ? `_${stem}` : stem;
}

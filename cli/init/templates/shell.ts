// A shell-script application: one script installed as $out/bin/NAME. Builds with the bootstrap base set.
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

export const shellTemplate: Template = {
  id: "shell",
  title: "Shell-script application",
  summary: "a script installed as bin/NAME",
  bootstrapBuilds: true,
  render(a: PackageAnswers, opts): TemplateFiles {
    const singleFile = a.source.kind === "url" && !isArchiveUrl(a.source.url);
    const script = singleFile ? "$src" : `${a.name}.sh`;
    const files: TemplateFiles = {
      "default.nix": {
        content: `${header(a, shellTemplate)}
${argList(["lib", "stdenv"], a.source)}

# stdenv.mkDerivation runs the standard phases: unpack the sources, (configure, build), install,
# and fix up. A script needs no building, so only the install phase says what to do.
stdenv.mkDerivation {
${nameLines(a)}

${srcLines(a.source)}
${singleFile ? "  # A single file is not an archive: nothing to unpack.\n  dontUnpack = true;\n" : ""}
  # Nothing to compile.
  dontBuild = true;

  # Shell commands, run in the unpacked sources. $out is where the package's files go.
  # The fixup phase afterwards points the script's #!/bin/sh line at the shell in the store,
  # so the package runs the same everywhere.
  installPhase = ''
    runHook preInstall
    mkdir -p $out/bin
    cp ${script} $out/bin/${a.name}
    chmod +x $out/bin/${a.name}
    runHook postInstall
  '';

${metaLines(a, [`mainProgram = "${a.name}";`])}
}
`,
      },
    };
    if (opts.writeExample && a.source.kind === "local") {
      files[`${a.source.path}/${a.name}.sh`] = {
        executable: true,
        content: `#!/bin/sh
# ${a.name}: ${a.description}
# An example: replace it with your script. It runs with the base set's sh (busybox, or bash
# with nixpkgs); programs it calls must be in the package's inputs to be found.
set -eu
echo "Hello from ${a.name} \${1:-}"
`,
      };
    }
    return files;
  },
};

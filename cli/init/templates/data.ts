// Static files or data: the sources copied to $out/share/NAME. Builds with the bootstrap base set.
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

export const dataTemplate: Template = {
  id: "data",
  title: "Static files / data",
  summary: "files installed under share/NAME (configs, assets, data sets)",
  bootstrapBuilds: true,
  render(a: PackageAnswers, opts): TemplateFiles {
    const singleFile = a.source.kind === "url" && !isArchiveUrl(a.source.url);
    const copy = singleFile
      ? `cp $src $out/share/${a.name}/${fileName(a.source.kind === "url" ? a.source.url : "")}`
      : `cp -r . $out/share/${a.name}/`;
    const files: TemplateFiles = {
      "default.nix": {
        content: `${header(a, dataTemplate)}
${argList(["lib", "stdenv"], a.source)}

# No program here: the package is its files, installed under $out/share/${a.name}.
# Other packages use it as an input: \`\${${a.name}}/share/${a.name}/…\` is the path of a file.
stdenv.mkDerivation {
${nameLines(a)}

${srcLines(a.source)}
${singleFile ? "  # A single file is not an archive: nothing to unpack.\n  dontUnpack = true;\n" : ""}
  dontBuild = true;
  # Data is copied as it is: no fix-ups of scripts or binaries.
  dontFixup = true;

  installPhase = ''
    runHook preInstall
    mkdir -p $out/share/${a.name}
    ${copy}
    runHook postInstall
  '';

${metaLines(a)}
}
`,
      },
    };
    if (opts.writeExample && a.source.kind === "local") {
      files[`${a.source.path}/README.txt`] = {
        content: `${a.name}: ${a.description}\n\nAn example file: put the package's files in this directory.\n`,
      };
    }
    return files;
  },
};

function fileName(url: string): string {
  const last = decodeURIComponent(new URL(url).pathname.split("/").pop() ?? "");
  return /^[A-Za-z0-9._+-]+$/.test(last) ? last : "data";
}

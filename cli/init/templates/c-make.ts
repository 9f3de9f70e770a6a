// A C program built with make. Needs a base set with a compiler and make (nixpkgs): the bootstrap set
// evaluates it but cannot build it.
import {
  argList,
  header,
  metaLines,
  nameLines,
  type PackageAnswers,
  srcLines,
  type Template,
  type TemplateFiles,
} from "./template.js";

export const cMakeTemplate: Template = {
  id: "c-make",
  title: "C program with make",
  summary: "`make` and `make install PREFIX=$out` (needs nixpkgs as the base set)",
  bootstrapBuilds: false,
  render(a: PackageAnswers, opts): TemplateFiles {
    const files: TemplateFiles = {
      "default.nix": {
        content: `${header(a, cMakeTemplate)}
${argList(["lib", "stdenv"], a.source)}

# nixpkgs' stdenv knows make: its build phase runs \`make\`, its install phase \`make install\`,
# both with makeFlags. Its stdenv also brings the C compiler (cc/gcc) and make themselves.
# Libraries the program links against go in buildInputs, e.g. \`{ …, zlib }:\` then
# \`buildInputs = [ zlib ];\`.
stdenv.mkDerivation {
${nameLines(a)}

${srcLines(a.source)}

  # \`placeholder "out"\` stands for $out (known only once the derivation is complete).
  makeFlags = [ "PREFIX=\${placeholder "out"}" ];

  # Run \`make check\` too, when the Makefile has tests.
  doCheck = false;

${metaLines(a, [`mainProgram = "${a.name}";`])}
}
`,
      },
    };
    if (opts.writeExample && a.source.kind === "local") {
      const dir = a.source.path;
      files[`${dir}/${a.name}.c`] = {
        content: `#include <stdio.h>

int main(int argc, char **argv) {
  printf("Hello from ${a.name}%s%s\\n", argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
  return 0;
}
`,
      };
      files[`${dir}/Makefile`] = {
        content: `PREFIX ?= /usr/local
CFLAGS ?= -O2 -Wall

${a.name}: ${a.name}.c
\t$(CC) $(CFLAGS) -o $@ $<

install: ${a.name}
\tmkdir -p $(PREFIX)/bin
\tcp ${a.name} $(PREFIX)/bin/

.PHONY: install
`,
      };
    }
    return files;
  },
};

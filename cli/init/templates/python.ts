// A Python application packaged from its pyproject.toml. Needs nixpkgs as the base set.
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

export const pythonTemplate: Template = {
  id: "python",
  title: "Python application",
  summary: "a pyproject.toml (or setup.py) project with its commands (needs nixpkgs as the base set)",
  bootstrapBuilds: false,
  render(a: PackageAnswers, opts): TemplateFiles {
    const files: TemplateFiles = {
      "default.nix": {
        content: `${header(a, pythonTemplate)}
${argList(["lib", "python3Packages"], a.source)}

# nixpkgs' buildPythonApplication builds the project with pip from its pyproject.toml (or
# setup.py), installs it, and wraps its commands so each finds exactly its own dependencies.
python3Packages.buildPythonApplication {
${nameLines(a)}

${srcLines(a.source)}

  # The project has a pyproject.toml; what builds it is listed in build-system.
  pyproject = true;
  build-system = [ python3Packages.setuptools ];

  # Python packages it imports at run time, by their nixpkgs names, e.g. [ python3Packages.requests ].
  dependencies = [ ];

${metaLines(a, [`mainProgram = "${a.name}";`])}
}
`,
      },
    };
    if (opts.writeExample && a.source.kind === "local") {
      const mod = moduleName(a.name);
      files[`${a.source.path}/pyproject.toml`] = {
        content: `[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "${a.name}"
version = "${a.version}"
description = ${JSON.stringify(a.description)}
dependencies = []

[project.scripts]
${a.name} = "${mod}.main:main"
`,
      };
      files[`${a.source.path}/${mod}/__init__.py`] = { content: "" };
      files[`${a.source.path}/${mod}/main.py`] = {
        content: `import sys


def main() -> None:
    print("Hello from ${a.name}", *sys.argv[1:])
`,
      };
    }
    return files;
  },
};

/** A Python module name from a package name: `my-tool` → `my_tool`. */
function moduleName(name: string): string {
  const m = name.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  return /^[0-9]/.test(m) ? `_${m}` : m;
}

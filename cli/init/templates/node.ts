// A Node.js application from its package.json and package-lock.json. Needs nixpkgs as the base set.
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

/** Nix's placeholder hash: a build with it fails and prints the real one. */
export const FAKE_HASH = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

export const nodeTemplate: Template = {
  id: "node",
  title: "Node.js application",
  summary: "a package.json + package-lock.json project with a bin (needs nixpkgs as the base set)",
  bootstrapBuilds: false,
  render(a: PackageAnswers, opts): TemplateFiles {
    const files: TemplateFiles = {
      "default.nix": {
        content: `${header(a, nodeTemplate)}
${argList(["lib", "buildNpmPackage"], a.source)}

# nixpkgs' buildNpmPackage installs the dependencies named in package-lock.json (fetched ahead
# of the build, checked by npmDepsHash), runs \`npm run build\` when there is such a script, and
# installs the package with its "bin" commands.
buildNpmPackage {
${nameLines(a)}

${srcLines(a.source)}

  # The hash of every dependency the lock file names. The first build with this placeholder fails
  # and prints the right value ("got: sha256-…"): paste it here. It changes with package-lock.json.
  npmDepsHash = "${FAKE_HASH}";

  # No "build" script in package.json: nothing to compile.
  dontNpmBuild = true;

${metaLines(a, [`mainProgram = "${a.name}";`])}
}
`,
      },
    };
    if (opts.writeExample && a.source.kind === "local") {
      const pkg = {
        name: a.name.toLowerCase(),
        version: a.version,
        description: a.description,
        bin: { [a.name]: "index.js" },
        license: "UNLICENSED",
      };
      files[`${a.source.path}/package.json`] = { content: `${JSON.stringify(pkg, null, 2)}\n` };
      files[`${a.source.path}/package-lock.json`] = {
        content: `${JSON.stringify(
          {
            name: pkg.name,
            version: a.version,
            lockfileVersion: 3,
            requires: true,
            packages: { "": { name: pkg.name, version: a.version, bin: pkg.bin, license: pkg.license } },
          },
          null,
          2,
        )}\n`,
      };
      files[`${a.source.path}/index.js`] = {
        executable: true,
        content: `#!/usr/bin/env node
console.log(["Hello from ${a.name}", ...process.argv.slice(2)].join(" "));
`,
      };
    }
    return files;
  },
};

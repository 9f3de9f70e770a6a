// Looks at a source directory and proposes the template that fits what is in it.
import { open, readdir } from "node:fs/promises";
import { join } from "node:path";

export interface Detection {
  /** The proposed template's id, or null when nothing in the directory says which. */
  template: string | null;
  /** What was found, in words: `found Makefile`. */
  reason: string;
}

// The first file found wins, in this order: a project file says more than a loose script.
const markers: Array<{ file: string; template: string | null; note?: string }> = [
  { file: "package.json", template: "node" },
  { file: "pyproject.toml", template: "python" },
  { file: "setup.py", template: "python" },
  { file: "go.mod", template: null, note: "a Go module: no flox template yet (nixpkgs has buildGoModule)" },
  {
    file: "Cargo.toml",
    template: null,
    note: "a Rust crate: no flox template yet (nixpkgs has rustPlatform.buildRustPackage)",
  },
  { file: "Makefile", template: "c-make" },
  { file: "makefile", template: "c-make" },
  { file: "GNUmakefile", template: "c-make" },
];

/** Proposes a template for the sources in `dir` (which may not exist: then nothing is proposed). */
export async function detectTemplate(dir: string): Promise<Detection> {
  const names = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (names === null) return { template: null, reason: `${dir} does not exist yet` };
  const files = new Set(names.filter((d) => d.isFile()).map((d) => d.name));
  for (const m of markers) {
    if (files.has(m.file))
      return { template: m.template, reason: `found ${m.file}${m.note ? `: ${m.note}` : ""}` };
  }
  const plain = names.filter((d) => d.isFile()).map((d) => d.name);
  for (const name of plain) {
    if (await isElf(join(dir, name)))
      return { template: "binary", reason: `found the program ${name} (ELF)` };
  }
  const script = plain.find((n) => n.endsWith(".sh"));
  if (script) return { template: "shell", reason: `found the script ${script}` };
  if (plain.length > 0)
    return {
      template: "data",
      reason: `found ${plain.length} ${plain.length === 1 ? "file" : "files"} and no program`,
    };
  return { template: null, reason: `${dir} is empty` };
}

async function isElf(path: string): Promise<boolean> {
  const fh = await open(path, "r").catch(() => null);
  if (!fh) return false;
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.toString("latin1") === "\x7fELF";
  } finally {
    await fh.close();
  }
}

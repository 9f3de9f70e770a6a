// flox init's questions on a real terminal: tmux runs it, send-keys types the answers, capture-pane
// reads the screen; then the files written are checked.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { newCheckout, Terminal } from "../../testing/init-cli.js";

const term = new Terminal(`flox-init-test-${process.pid}`);
let tmp: string;

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "flox-dialogue-test-"));
});
test.after(async () => {
  await term.stop();
  await rm(tmp, { recursive: true, force: true });
});

const startInit = (session: string, cwd: string) => term.startFlox(session, cwd, "init");
const waitFor = (session: string, text: string | RegExp) => term.waitFor(session, text);
const keys = (session: string, ...k: string[]) => term.keys(session, ...k);
const type = (session: string, text: string) => term.type(session, text);

test("the questions, answered on a terminal: a bad name is refused with the gate's words, then the package is written", async () => {
  const dir = await newCheckout(tmp, "dialogue");
  const s = "answers";
  await startInit(s, dir);

  await waitFor(s, "Package name");
  await type(s, "-bad");
  await keys(s, "Enter");
  await waitFor(s, 'invalid package name "-bad": it must start with a letter or digit');
  await keys(s, "BSpace", "BSpace", "BSpace", "BSpace");
  await type(s, "greet");
  await keys(s, "Enter");

  await waitFor(s, "Where are its sources?");
  await keys(s, "Enter"); // the first choice: an example written for me

  const menu = await waitFor(s, "Template");
  for (const title of [
    "Shell-script application",
    "Static files / data",
    "C program with make",
    "Python application",
    "Node.js application",
    "Wrap a prebuilt binary",
  ]) {
    assert.match(menu, title);
  }
  await keys(s, "Down"); // from the proposed shell to data
  await keys(s, "Enter");

  await waitFor(s, "Version");
  await type(s, "2.0");
  await keys(s, "Enter");
  await waitFor(s, "One-line description");
  await type(s, "Greets people");
  await keys(s, "Enter");
  await waitFor(s, "License");
  await keys(s, "Down");
  await keys(s, "Down"); // mit → asl20 → bsd2
  await keys(s, "Enter");

  const done = await waitFor(s, /flox exited \d+/);
  assert.match(done, "flox exited 0");
  assert.match(done, "created pkgs/greet from the data template");
  const file = await readFile(join(dir, "pkgs", "greet", "default.nix"), "utf8");
  assert.match(file, 'pname = "greet";');
  assert.match(file, 'version = "2.0";');
  assert.match(file, 'description = "Greets people";');
  assert.match(file, "license = lib.licenses.bsd2;");
  assert.match(file, "mkdir -p $out/share/greet");
  assert.equal(await readdir(join(dir, "pkgs", "greet", "src")), ["README.txt"]);
});

test("sources with a Makefile propose the C template; Ctrl-C at a question writes nothing", async () => {
  const dir = await newCheckout(tmp, "detected");
  await mkdir(join(dir, "pkgs", "calc", "src"), { recursive: true });
  await writeFile(join(dir, "pkgs", "calc", "src", "Makefile"), "all:\n");
  const s = "detected";
  await startInit(s, dir);
  await waitFor(s, "Package name");
  await type(s, "calc");
  await keys(s, "Enter");
  await waitFor(s, "Where are its sources?");
  await keys(s, "Down"); // a directory here
  await keys(s, "Enter");
  await waitFor(s, "Directory of the sources");
  await type(s, "pkgs/calc/src");
  await keys(s, "Enter");
  await waitFor(s, "Template (proposed: found Makefile)");
  await keys(s, "Enter");
  for (const q of ["Version", "One-line description"]) {
    await waitFor(s, q);
    await keys(s, "Enter"); // the defaults
  }
  await waitFor(s, "License");
  await keys(s, "Enter");
  assert.match(await waitFor(s, /flox exited \d+/), "flox exited 0");
  const file = await readFile(join(dir, "pkgs", "calc", "default.nix"), "utf8");
  assert.match(file, "(template: c-make)");
  assert.match(file, 'version = "0.1.0";');
  assert.match(file, 'description = "calc, packaged with flox";');
  assert.match(file, "src = ./src;");

  const quitter = await newCheckout(tmp, "cancelled");
  await startInit("cancelled", quitter);
  await waitFor("cancelled", "Package name");
  await type("cancelled", "half");
  await keys("cancelled", "C-c");
  const end = await waitFor("cancelled", /flox exited \d+/);
  assert.match(end, "cancelled: nothing was written");
  assert.match(end, "flox exited 1");
  assert.equal(await readdir(join(quitter, "pkgs")), []);
});

test.run();

// parseNixError against Nix's own stderr, recorded from Nix 2.8.0 and 2.26.3 for the same files: both layouts give
// the same message and the same innermost position, so a pusher reads the same problem under either Nix.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseNixError } from "./nix-errors.js";

const undefinedVar = {
  "2.8": `error: undefined variable 'instalPhaseExtra'

       at /r/b.nix:5:7:

            4|   y = a;
            5|   z = instalPhaseExtra;
             |       ^
            6| }
`,
  "2.26": `error: undefined variable 'instalPhaseExtra'
       at /r/b.nix:5:7:
            4|   y = a;
            5|   z = instalPhaseExtra;
             |       ^
            6| }
`,
};

const syntax = {
  "2.8": `error: syntax error, unexpected IN, expecting ';'

       at /r/c.nix:4:1:

            3|   b = 2
            4| in a
             | ^
`,
  "2.26": `error: syntax error, unexpected IN_KW, expecting ';'
       at /r/c.nix:4:1:
            3|   b = 2
            4| in a
             | ^
            5|
`,
};

// With --show-trace: 2.8 puts the message first and the frames innermost first; 2.26 a bare "error:", the frames
// outermost first, and the message last.
const thrown = {
  "2.8": `error: p07 is broken

       … while evaluating the attribute 'x'

       at /r/d.nix:2:3:

            1| {
            2|   x =
             |   ^
            3|     throw "p07 is broken";
`,
  "2.26": `error:
       … while evaluating the attribute 'x'
         at /r/d.nix:2:3:
            1| {
            2|   x =
             |   ^
            3|     throw "p07 is broken";

       … while calling the 'throw' builtin
         at /r/d.nix:3:5:
            2|   x =
            3|     throw "p07 is broken";
             |     ^
            4| }

       error: p07 is broken
`,
};

const missingArg = {
  "2.8": `error: anonymous function at /r/a.nix:1:1 called without required argument 'frobnicate'

       at «string»:1:2:

            1| (import /r/a.nix) {}
             |  ^
`,
  "2.26": `error:
       … from call site
         at «string»:1:2:
            1| (import /r/a.nix) {}
             |  ^

       error: function 'anonymous lambda' called without required argument 'frobnicate'
       at /r/a.nix:1:1:
            1| { frobnicate }:
             | ^
            2| {
`,
};

test("undefined variable and syntax errors read the same from 2.8 and 2.26", () => {
  for (const sample of [undefinedVar, syntax]) {
    const a = parseNixError(sample["2.8"]);
    const b = parseNixError(sample["2.26"]);
    assert.equal(a, b);
  }
  assert.is(parseNixError(syntax["2.26"])?.message, "syntax error, unexpected IN, expecting ';'");
});

test("a throw: the same message; 2.26's frames come innermost first like 2.8's", () => {
  const a = parseNixError(thrown["2.8"]);
  const b = parseNixError(thrown["2.26"]);
  assert.is(a?.message, "p07 is broken");
  assert.is(b?.message, "p07 is broken");
  assert.equal(b?.at, [
    { file: "/r/d.nix", line: 3 },
    { file: "/r/d.nix", line: 2 },
  ]);
  assert.equal(a?.at, [{ file: "/r/d.nix", line: 2 }]);
});

test("a missing argument names the function's file under both: in the message (2.8) or as its position (2.26)", () => {
  const a = parseNixError(missingArg["2.8"]);
  const b = parseNixError(missingArg["2.26"]);
  for (const e of [a, b]) assert.match(e?.message ?? "", /called without required argument 'frobnicate'$/);
  assert.equal(a?.inMessage, [{ file: "/r/a.nix", line: 1 }]);
  assert.equal(b?.at[0], { file: "/r/a.nix", line: 1 });
});

test.run();

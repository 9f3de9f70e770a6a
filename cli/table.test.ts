import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatTable } from "./table.js";

test("columns line up on the widest cell", () => {
  const out = formatTable(
    ["name", "role"],
    [
      ["alice", "owner"],
      ["bartholomew", "reader"],
    ],
  );
  assert.is(out, ["NAME         ROLE", "alice        owner", "bartholomew  reader"].join("\n"));
});

test("missing and empty cells show as a dash", () => {
  const out = formatTable(
    ["a", "b", "c"],
    [
      ["x", null, undefined],
      ["", 3],
    ],
  );
  assert.is(out, ["A  B  C", "x  -  -", "-  3  -"].join("\n"));
});

test("colour escape codes do not count toward a column's width", () => {
  const out = formatTable(
    ["a", "b"],
    [
      ["\x1b[31mred\x1b[0m", "x"],
      ["plain", "y"],
    ],
  );
  assert.is(out, ["A      B", "\x1b[31mred\x1b[0m    x", "plain  y"].join("\n"));
});

test.run();

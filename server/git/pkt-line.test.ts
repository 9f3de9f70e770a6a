import { test } from "uvu";
import * as assert from "uvu/assert";
import { FLUSH, pktLine, sidebandPacket, TrailingFlushHold } from "./pkt-line.js";

/** What `git receive-pack --stateless-rpc` answers a side-band client: report in band 1, hook output in band 2. */
const report = Buffer.concat([pktLine("unpack ok\n"), pktLine("ok refs/heads/main\n"), FLUSH]);
const sidebandResponse = Buffer.concat([
  pktLine(Buffer.concat([Buffer.from([1]), report])),
  sidebandPacket(2, "recorded push #1 for refs/heads/main\n"),
  FLUSH,
]);
const error = sidebandPacket(3, "CI failed");

/** Feeds `chunks` through a hold; returns what came out while streaming and at the end. */
function run(chunks: Buffer[], insert?: Buffer) {
  const hold = new TrailingFlushHold();
  const streamed = Buffer.concat(chunks.map((c) => hold.push(c)));
  const { rest, inserted } = hold.end(insert);
  return { streamed, out: Buffer.concat([streamed, rest]), inserted, hold };
}

/** Every way of cutting `data` in two, and one byte at a time. */
function splits(data: Buffer): Buffer[][] {
  const ways: Buffer[][] = [[data], [...data].map((b) => Buffer.from([b]))];
  for (let i = 1; i < data.length; i++) ways.push([data.subarray(0, i), data.subarray(i)]);
  return ways;
}

test("pktLine and sidebandPacket frame as git does", () => {
  assert.is(pktLine("a\n").toString(), "0006a\n");
  assert.is(sidebandPacket(3, "no").toString("latin1"), "0007\u0003no");
  assert.is(pktLine("").toString(), "0004");
  assert.throws(() => pktLine(Buffer.alloc(65517)), /at most 65516/);
  assert.is(sidebandPacket(2, "x".repeat(70000)).length, 65520);
});

test("a side-band response passes through whole; the error goes right before the final flush", () => {
  for (const chunks of splits(sidebandResponse)) {
    const plain = run(chunks);
    assert.ok(plain.out.equals(sidebandResponse), "unchanged without an insert");
    assert.ok(plain.streamed.equals(sidebandResponse.subarray(0, -4)), "only the final flush is held back");
    assert.ok(plain.hold.sideband);

    const failed = run(chunks, error);
    assert.ok(failed.inserted);
    assert.ok(
      failed.out.equals(Buffer.concat([sidebandResponse.subarray(0, -4), error, FLUSH])),
      JSON.stringify(failed.out.toString("latin1")),
    );
  }
});

test("a flush followed by more packets is passed on when they come", () => {
  const data = Buffer.concat([pktLine("a\n"), FLUSH, pktLine("b\n"), FLUSH]);
  for (const chunks of splits(data)) {
    const r = run(chunks, error);
    assert.ok(r.out.equals(Buffer.concat([pktLine("a\n"), FLUSH, pktLine("b\n"), error, FLUSH])));
  }
});

test("a response without side-band is recognised as such", () => {
  const r = run([report]);
  assert.not.ok(r.hold.sideband);
  assert.ok(r.hold.framed);
  assert.ok(r.out.equals(report));
});

test("a response that is not pkt-lines passes through untouched and gets nothing inserted", () => {
  const text = Buffer.from("flox could not read this git request\n");
  for (const chunks of splits(text)) {
    const r = run(chunks, error);
    assert.not.ok(r.inserted);
    assert.not.ok(r.hold.framed);
    assert.not.ok(r.hold.sideband);
    assert.ok(r.out.equals(text));
  }
});

test("a response cut off inside a packet keeps its bytes and gets nothing inserted", () => {
  const cut = Buffer.concat([sidebandPacket(2, "hello\n"), Buffer.from("00")]);
  const r = run([cut], error);
  assert.not.ok(r.inserted);
  assert.ok(r.out.equals(cut));
  const mid = sidebandPacket(2, "hello\n").subarray(0, 7);
  const m = run([mid], error);
  assert.not.ok(m.inserted);
  assert.ok(m.out.equals(mid));
});

test.run();

import { test } from "uvu";
import * as assert from "uvu/assert";
import { readSse, type SseItem } from "./sse.js";

/** A stream that delivers `chunks` one by one, as a network would cut them. */
function streamOf(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(typeof c === "string" ? enc.encode(c) : c);
      controller.close();
    },
  });
}

async function all(chunks: (string | Uint8Array)[]): Promise<SseItem[]> {
  const out: SseItem[] = [];
  for await (const item of readSse(streamOf(chunks))) out.push(item);
  return out;
}

test("events, ids, comments and retry as the standard parses them", async () => {
  const items = await all([
    '\uFEFFretry: 2000\n\n: ping\n\nevent: profile\ndata: {"a":1}\nid: 7\n\n',
    "data: one\ndata: two\n\nid: 9\nevent: x\ndata\n\n",
    "event: ready\ndata: {}\n\n",
  ]);
  assert.equal(items, [
    { type: "retry", ms: 2000 },
    { type: "comment", text: "ping" },
    { type: "event", event: "profile", data: '{"a":1}', lastEventId: "7", hasId: true },
    { type: "event", event: "message", data: "one\ntwo", lastEventId: "7", hasId: false },
    { type: "event", event: "x", data: "", lastEventId: "9", hasId: true },
    { type: "event", event: "ready", data: "{}", lastEventId: "9", hasId: false },
  ]);
});

test("line ends CRLF, CR and LF, split anywhere, even inside a CRLF and a UTF-8 character", async () => {
  const bytes = new TextEncoder().encode("data: é\r\n\r\ndata: b\r\rdata: c\n\n");
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) chunks.push(bytes.slice(i, i + 1));
  const events = (await all(chunks))
    .filter((i) => i.type === "event")
    .map((i) => i.type === "event" && i.data);
  assert.equal(events, ["é", "b", "c"]);
});

test("an event without its blank line at the end is dropped; no data, no event", async () => {
  const items = await all(["event: a\n\nid: 3\n\ndata: cut"]);
  assert.equal(items, []);
});

test.run();

// A reader of `text/event-stream` (server-sent events) as the WHATWG HTML standard parses it, for clients that are
// not browsers (flox sync, the endpoint agent, benchmarks). Comments are passed on too: they are the heartbeats.

export type SseItem =
  | {
      type: "event";
      /** `message` when the server named none. */
      event: string;
      data: string;
      /** The last event id after this event (the stream's, as `Last-Event-ID` would send it); "" when none. */
      lastEventId: string;
      /** This event carried an `id:` field itself. */
      hasId: boolean;
    }
  | { type: "comment"; text: string }
  | { type: "retry"; ms: number };

/** Yields every complete event, comment and retry of `body`, in order. An event cut off at the end is dropped. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseItem> {
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  let first = true;
  let data: string[] = [];
  let event = "";
  let lastEventId = "";
  let hasId = false;

  function* line(text: string): Generator<SseItem> {
    if (text === "") {
      if (data.length > 0) {
        yield { type: "event", event: event || "message", data: data.join("\n"), lastEventId, hasId };
      }
      data = [];
      event = "";
      hasId = false;
      return;
    }
    if (text.startsWith(":")) {
      yield { type: "comment", text: text.slice(1).replace(/^ /, "") };
      return;
    }
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? "" : text.slice(colon + 1).replace(/^ /, "");
    switch (field) {
      case "event":
        event = value;
        break;
      case "data":
        data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) {
          lastEventId = value;
          hasId = true;
        }
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) yield { type: "retry", ms: Number(value) };
        break;
      default:
      // Unknown fields are ignored.
    }
  }

  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      if (first && buffer.length > 0) {
        if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
        first = false;
      }
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buffer);
        if (!m) break;
        // A CR at the very end may be the first half of a CRLF split across chunks: wait for the next chunk.
        if (m[0] === "\r" && m.index === buffer.length - 1 && !done) break;
        const text = buffer.slice(0, m.index);
        buffer = buffer.slice(m.index + m[0].length);
        yield* line(text);
      }
      if (done) return;
    }
  } finally {
    // Also when the caller stopped reading early: the connection is of no more use.
    await reader.cancel().catch(() => {});
  }
}

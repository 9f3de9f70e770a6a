// Git's pkt-line framing (gitprotocol-common(5)), just enough to add a side-band packet to a response as it streams.

/** `0000`: ends a list of packets; receive-pack ends its response with one. */
export const FLUSH = Buffer.from("0000", "latin1");

/** The largest payload one packet may carry (65520 bytes in all, 4 of them the length). */
export const MAX_PKT_PAYLOAD = 65516;

/** One packet: four hex digits of length (themselves included), then the payload. */
export function pktLine(payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  if (body.length > MAX_PKT_PAYLOAD)
    throw new RangeError(`a pkt-line payload holds at most ${MAX_PKT_PAYLOAD} bytes`);
  return Buffer.concat([Buffer.from((body.length + 4).toString(16).padStart(4, "0"), "latin1"), body]);
}

/**
 * A side-band packet: band 1 is data, 2 progress (git prints it as `remote: …`), 3 a fatal error (git prints it,
 * stops reading and the command fails). Long text is cut to fit one packet.
 */
export function sidebandPacket(band: 1 | 2 | 3, text: string): Buffer {
  let body = Buffer.from(text, "utf8");
  if (body.length > MAX_PKT_PAYLOAD - 1) body = body.subarray(0, MAX_PKT_PAYLOAD - 1);
  return pktLine(Buffer.concat([Buffer.from([band]), body]));
}

/**
 * Follows a pkt-line stream chunk by chunk and holds back a flush packet until it is known whether more follows,
 * so that something can still be put before the stream's final flush. Everything else passes through at once
 * (a packet's length digits wait until all four are in). A stream that is not pkt-lines (a plain-text error
 * answer, say) is passed through untouched from the first byte that does not parse.
 */
export class TrailingFlushHold {
  /** Bytes received but not yet passed on: an incomplete length, or a held flush. */
  #pending = Buffer.alloc(0);
  /** Payload bytes of the current packet still to come. */
  #inPacket = 0;
  #opaque = false;
  #heldFlush = false;
  #firstPayloadByte: number | undefined;
  #sawPayloadStart = false;

  /** Whether the stream parses as pkt-lines so far. */
  get framed(): boolean {
    return !this.#opaque;
  }

  /** Whether the packets are side-band multiplexed: the first payload byte was a band (1, 2 or 3). */
  get sideband(): boolean {
    const b = this.#firstPayloadByte;
    return !this.#opaque && b !== undefined && b >= 1 && b <= 3;
  }

  /** Takes the next chunk; returns what may be passed on now (possibly nothing). */
  push(chunk: Buffer): Buffer {
    if (this.#opaque) return chunk;
    const out: Buffer[] = [];
    let data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.#inPacket > 0) {
        const n = Math.min(this.#inPacket, data.length);
        if (!this.#sawPayloadStart) {
          this.#sawPayloadStart = true;
          this.#firstPayloadByte = data[0];
        }
        out.push(data.subarray(0, n));
        data = data.subarray(n);
        this.#inPacket -= n;
        continue;
      }
      if (this.#heldFlush) {
        // More follows the flush we held: it was not the last one.
        out.push(FLUSH);
        this.#heldFlush = false;
      }
      if (data.length < 4) {
        this.#pending = Buffer.from(data);
        break;
      }
      const digits = data.subarray(0, 4).toString("latin1");
      const length = /^[0-9a-f]{4}$/i.test(digits) ? Number.parseInt(digits, 16) : -1;
      if (length === 0) {
        this.#heldFlush = true;
        data = data.subarray(4);
        continue;
      }
      if (length < 0 || length === 3) {
        // Not pkt-lines after all: pass on everything from here on as it is.
        this.#opaque = true;
        out.push(data);
        break;
      }
      // 0001 (delimiter) and 0002 (response end) carry no payload; others carry length - 4 bytes.
      out.push(data.subarray(0, 4));
      data = data.subarray(4);
      this.#inPacket = length >= 4 ? length - 4 : 0;
    }
    return out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
  }

  /**
   * The stream ended: returns the bytes still held back, with `insert` (whole packets) put before the final flush
   * when there is one. `inserted` says whether that happened.
   */
  end(insert?: Buffer): { rest: Buffer; inserted: boolean } {
    const pending = this.#pending;
    this.#pending = Buffer.alloc(0);
    if (!this.#heldFlush) return { rest: pending, inserted: false };
    this.#heldFlush = false;
    if (insert && insert.length > 0 && pending.length === 0) {
      return { rest: Buffer.concat([insert, FLUSH]), inserted: true };
    }
    return { rest: Buffer.concat([FLUSH, pending]), inserted: false };
  }
}

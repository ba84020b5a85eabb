/**
 * Records: how a bridged connection's bytes and flow control cross between
 * the server and a worker thread. Each side collects the records of one turn
 * of its event loop, for every request, and sends them as one `Uint8Array`
 * whose memory is transferred, not copied: one message (one wake-up of the
 * other thread) per turn instead of one per chunk, and no property names to
 * clone or hash.
 *
 * A record: request id (uint32, little endian), type (uint8), three bytes of
 * padding, payload length (uint32), payload.
 *
 * @module
 */

/** Bytes before a record's payload. */
export const RECORD_HEADER = 12;

/** Server to host: bytes from the peer. */
export const DATA = 1;
/** Server to host: the peer ended its side. */
export const END = 2;
/** Server to host: the connection closed; payload: the error as JSON (`WireError`), or empty. */
export const CLOSE = 3;
/** Either way: this many bytes (uint32 payload) were consumed; more may come. */
export const ACK = 4;
/** Host to server: bytes the handler wrote. */
export const WRITE = 5;
/** Host to server: the handler ended its side (`end()`). */
export const FIN = 6;
/** Host to server: the handler destroyed the connection. */
export const DESTROY = 7;
/** Host to server: `setNoDelay` (payload: uint8 0 or 1). */
export const NO_DELAY = 8;
/** Host to server: `setKeepAlive` (payload: uint8 enable, uint32 initial delay). */
export const KEEP_ALIVE = 9;

/** Bytes either side may send for one request before the other acknowledges them (each direction). */
export const CREDIT = 64 * 1024;
/** Acknowledge once this many bytes were consumed (a quarter of the credit). */
export const ACK_EVERY = CREDIT / 4;

const EMPTY = new Uint8Array(0);

/** Collects records until {@link take} packs them into one buffer. */
export class RecordWriter {
  #parts: Array<{ id: number; type: number; payload: Uint8Array }> = [];
  #length = 0;

  /** True when no record waits. */
  get empty(): boolean {
    return this.#parts.length === 0;
  }

  /**
   * Adds a record. `payload` is copied when the batch is packed, at the end
   * of the turn: the caller must not change it before then (copy it first
   * if it may).
   */
  add(id: number, type: number, payload: Uint8Array = EMPTY): void {
    this.#parts.push({ id, type, payload });
    this.#length += RECORD_HEADER + payload.byteLength;
  }

  /** Adds a record whose payload is one uint32. */
  addNumber(id: number, type: number, n: number): void {
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, n >>> 0, true);
    this.add(id, type, payload);
  }

  /** Packs every record added since the last call into one buffer, or null when there is none. */
  take(): Uint8Array | null {
    if (this.#parts.length === 0) return null;
    const out = new Uint8Array(this.#length);
    const view = new DataView(out.buffer);
    let offset = 0;
    for (const { id, type, payload } of this.#parts) {
      view.setUint32(offset, id >>> 0, true);
      out[offset + 4] = type;
      view.setUint32(offset + 8, payload.byteLength, true);
      out.set(payload, offset + RECORD_HEADER);
      offset += RECORD_HEADER + payload.byteLength;
    }
    this.#parts = [];
    this.#length = 0;
    return out;
  }
}

/**
 * Calls `visit` for each record in `batch`, in order. The payload is a
 * `Buffer` over the batch's memory (no copy).
 */
export function readRecords(
  batch: Uint8Array,
  visit: (id: number, type: number, payload: Buffer) => void,
): void {
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  let offset = 0;
  while (offset + RECORD_HEADER <= batch.byteLength) {
    const id = view.getUint32(offset, true);
    const type = batch[offset + 4]!;
    const length = view.getUint32(offset + 8, true);
    const start = batch.byteOffset + offset + RECORD_HEADER;
    visit(id, type, Buffer.from(batch.buffer, start, length));
    offset += RECORD_HEADER + length;
  }
}

/** The uint32 a record's payload holds. */
export function payloadNumber(payload: Uint8Array, at = 0): number {
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(at, true);
}

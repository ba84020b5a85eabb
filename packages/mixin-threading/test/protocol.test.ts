import { describe, expect, it } from 'vitest';
import {
  FRAME_BELOW,
  FRAME_DATA,
  FRAME_HEADER,
  FRAME_WRITE,
  frame,
  framePayload,
  isFrameOf,
} from '../src/protocol.js';

describe('frames: how small chunks cross between threads', () => {
  it('carry a copy of the bytes after the header; the payload is a view of the frame', () => {
    const bytes = Buffer.from('hello\n');
    const f = frame(FRAME_DATA, 7, bytes);
    expect(f.byteLength).toBe(FRAME_HEADER + bytes.length);
    bytes[0] = 0x58; // the sender may reuse its buffer
    const payload = framePayload(f);
    expect(payload.toString()).toBe('hello\n');
    expect(payload.buffer).toBe(f.buffer);
    expect(framePayload(frame(FRAME_WRITE, 0, new Uint8Array(0))).length).toBe(0);
  });

  it('are recognised by kind and request number; a late frame of the previous request is not', () => {
    for (const r of [
      0,
      1,
      255,
      256,
      65_535,
      65_536,
      2 ** 31,
      2 ** 32 - 1,
      2 ** 32 + 5,
      2 ** 40 + 3,
    ]) {
      const f = frame(FRAME_WRITE, r, new Uint8Array([1, 2, 3]));
      expect(isFrameOf(f, FRAME_WRITE, r)).toBe(true);
      expect(isFrameOf(f, FRAME_DATA, r)).toBe(false);
      expect(isFrameOf(f, FRAME_WRITE, r + 1)).toBe(false);
      expect(isFrameOf(f, FRAME_WRITE, r - 1)).toBe(false);
    }
  });

  it('are used below 16 KiB only (larger chunks are transferred)', () => {
    expect(FRAME_BELOW).toBe(16 * 1024);
  });
});

import { describe, expect, it } from 'vitest';
import {
  ACK,
  DATA,
  payloadNumber,
  RECORD_HEADER,
  RecordWriter,
  readRecords,
} from '../../src/host/records.js';

describe('records: how bridged bytes cross between threads', () => {
  it('pack several requests in order into one buffer, and read back as views of it', () => {
    const writer = new RecordWriter();
    expect(writer.take()).toBeNull();
    writer.add(7, DATA, Buffer.from('hello\n'));
    writer.addNumber(2 ** 32 - 1, ACK, 65_536);
    writer.add(8, DATA);
    const batch = writer.take()!;
    expect(writer.empty).toBe(true);
    expect(batch.byteLength).toBe(3 * RECORD_HEADER + 6 + 4);
    const seen: Array<[number, number, string]> = [];
    readRecords(batch, (id, type, payload) => {
      expect(payload.buffer).toBe(batch.buffer);
      seen.push([id, type, type === ACK ? String(payloadNumber(payload)) : payload.toString()]);
    });
    expect(seen).toEqual([
      [7, DATA, 'hello\n'],
      [2 ** 32 - 1, ACK, '65536'],
      [8, DATA, ''],
    ]);
  });

  it('copy the payload when the batch is packed', () => {
    const writer = new RecordWriter();
    const bytes = Buffer.from('abc');
    writer.add(1, DATA, bytes);
    const batch = writer.take()!;
    bytes[0] = 0x78;
    readRecords(batch, (_id, _type, payload) => expect(payload.toString()).toBe('abc'));
  });
});

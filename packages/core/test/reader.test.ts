import { describe, expect, it } from 'vitest';
import { IncompleteReadError } from '../src/errors.js';
import { Reader } from '../src/reader.js';

const b = (s: string) => Buffer.from(s);

describe('Reader (rfile) semantics, as Python binary files', () => {
  it('readline keeps the newline, returns a final partial line, then empty at EOF', async () => {
    const r = Reader.from(b('one\ntwo\nthree'));
    expect((await r.readline()).toString()).toBe('one\n');
    expect((await r.readline()).toString()).toBe('two\n');
    expect((await r.readline()).toString()).toBe('three');
    expect((await r.readline()).length).toBe(0);
    expect((await r.readline()).length).toBe(0);
  });

  it('readline(limit) stops at the limit even without a newline', async () => {
    const r = Reader.from(b('abcdefgh\nij\n'));
    expect((await r.readline(3)).toString()).toBe('abc');
    expect((await r.readline(100)).toString()).toBe('defgh\n');
    expect((await r.readline(3)).toString()).toBe('ij\n');
    expect((await r.readline(0)).toString()).toBe('');
  });

  it('readline waits for the newline across chunks', async () => {
    const r = new Reader();
    const line = r.readline();
    r.push(b('hel'));
    r.push(b('lo wor'));
    r.push(b('ld\nrest'));
    expect((await line).toString()).toBe('hello world\n');
    r.end();
    expect((await r.read()).toString()).toBe('rest');
  });

  it('read(n) returns n bytes, fewer only at EOF; read() reads to EOF', async () => {
    const r = new Reader();
    const first = r.read(5);
    r.push(b('ab'));
    r.push(b('cdefg'));
    expect((await first).toString()).toBe('abcde');
    const rest = r.read();
    r.push(b('hij'));
    r.end();
    expect((await rest).toString()).toBe('fghij');
    expect((await r.read(10)).length).toBe(0);
  });

  it('readExactly rejects with IncompleteReadError carrying the partial bytes', async () => {
    const r = Reader.from(b('abc'));
    const error = await r.readExactly(5).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IncompleteReadError);
    expect((error as IncompleteReadError).code).toBe('ERR_SOCKETSERVER_INCOMPLETE_READ');
    expect((error as IncompleteReadError).partial.toString()).toBe('abc');
    expect((await Reader.from(b('abcdef')).readExactly(4)).toString()).toBe('abcd');
  });

  it('async iteration yields every line until EOF', async () => {
    const lines: string[] = [];
    for await (const line of Reader.from(b('a\nb\nc'))) lines.push(line.toString());
    expect(lines).toEqual(['a\n', 'b\n', 'c']);
  });

  it('a failure rejects reads after the buffered bytes are consumed', async () => {
    const r = new Reader();
    r.push(b('ok\npartial'));
    r.fail(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    expect((await r.readline()).toString()).toBe('ok\n');
    await expect(r.readline()).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('pauses its source past the high-water mark and resumes when a read needs more', async () => {
    const events: string[] = [];
    const r = new Reader({
      highWaterMark: 8,
      flow: { pause: () => events.push('pause'), resume: () => events.push('resume') },
    });
    r.push(b('12345'));
    expect(events).toEqual([]);
    r.push(b('6789\n'));
    expect(events).toEqual(['pause']);
    expect((await r.readline()).toString()).toBe('123456789\n');
    const next = r.readline();
    expect(events).toEqual(['pause', 'resume']);
    r.push(b('x\n'));
    expect((await next).toString()).toBe('x\n');
  });

  it('takeBuffered hands over every unread byte', async () => {
    const r = new Reader();
    r.push(b('line\nmore'));
    await r.readline();
    expect(r.takeBuffered().toString()).toBe('more');
    expect(r.bufferedLength).toBe(0);
  });
});

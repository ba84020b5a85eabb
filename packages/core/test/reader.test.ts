import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { IncompleteReadError } from '../src/errors.js';
import { attachReader, Reader } from '../src/reader.js';

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

  it('a pending read that needs more than the high-water mark keeps its source flowing', async () => {
    const events: string[] = [];
    const r = new Reader({
      highWaterMark: 4,
      flow: { pause: () => events.push('pause'), resume: () => events.push('resume') },
    });
    const all = r.read();
    expect(events).toEqual(['resume']);
    r.push(b('123456'));
    // Paused past the mark, then resumed at once: the read can only finish at end of stream.
    expect(events).toEqual(['resume', 'pause', 'resume']);
    const line = new Reader({
      highWaterMark: 2,
      flow: { pause: () => {}, resume: () => events.push('line') },
    });
    const waiting = line.readline();
    line.push(b('abcdef'));
    expect(events.filter((event) => event === 'line')).toHaveLength(2);
    line.push(b('\n'));
    expect((await waiting).toString()).toBe('abcdef\n');
    r.push(b('78'));
    r.end();
    expect((await all).toString()).toBe('12345678');
  });

  it('takeBuffered hands over every unread byte', async () => {
    const r = new Reader();
    r.push(b('line\nmore'));
    await r.readline();
    expect(r.takeBuffered().toString()).toBe('more');
    expect(r.bufferedLength).toBe(0);
  });

  it('a read started while another is pending rejects clearly; the first still completes', async () => {
    const r = new Reader();
    const first = r.readline();
    await expect(r.read(2)).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT' });
    r.push(b('x\n'));
    expect((await first).toString()).toBe('x\n');
  });

  it('waiting reads are completed by push, end and fail', async () => {
    const r = new Reader();
    const exact = r.read(4);
    r.push(b('ab'));
    r.push(b('cdef'));
    expect((await exact).toString()).toBe('abcd');
    const toEnd = r.read();
    r.push(b('gh'));
    r.end();
    expect((await toEnd).toString()).toBe('efgh');
    const failing = new Reader();
    const waiting = failing.readline();
    failing.fail(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    await expect(waiting).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('iterates lines as they arrive from a live source, across chunk boundaries', async () => {
    const r = new Reader();
    const seen: string[] = [];
    const done = (async () => {
      for await (const line of r) seen.push(line.toString());
    })();
    r.push(b('one\ntw'));
    r.push(b('o\nthr'));
    r.push(b('ee'));
    r.end();
    await done;
    expect(seen).toEqual(['one\n', 'two\n', 'three']);
  });
});

describe('attachReader over a real socket', () => {
  async function pair(): Promise<{ client: Socket; server: Socket; close: () => void }> {
    const listener = createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const { port } = listener.address() as { port: number };
    const accepted = once(listener, 'connection');
    const client = connect(port, '127.0.0.1');
    const [server] = (await accepted) as [Socket];
    return {
      client,
      server,
      close: () => {
        client.destroy();
        server.destroy();
        listener.close();
      },
    };
  }

  it('delivers data and end of stream; detach stops delivery and removes its listeners', async () => {
    const { client, server, close } = await pair();
    try {
      const errorListeners = server.listenerCount('error');
      const reader = new Reader({ flow: server });
      const detach = attachReader(reader, server);
      expect(server.listenerCount('data')).toBe(1);
      client.write('hello\n');
      expect((await reader.readline()).toString()).toBe('hello\n');
      detach();
      expect(server.listenerCount('data')).toBe(0);
      expect(server.listenerCount('error')).toBe(errorListeners);
      const other = new Reader({ flow: server });
      attachReader(other, server);
      client.end('bye\n');
      expect((await other.read()).toString()).toBe('bye\n');
      expect(reader.bufferedLength).toBe(0);
    } finally {
      close();
    }
  });

  it('a reset connection fails the reader with the socket error', async () => {
    const { client, server, close } = await pair();
    try {
      const reader = new Reader({ flow: server });
      attachReader(reader, server);
      const pending = reader.readline();
      client.resetAndDestroy();
      await expect(pending).rejects.toMatchObject({ code: 'ECONNRESET' });
    } finally {
      close();
    }
  });
});

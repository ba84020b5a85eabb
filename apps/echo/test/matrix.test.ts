/**
 * Every transport in every mode, each a real `socketserver-echo` process:
 * three clients get their bytes back exactly (a 1 MiB line on streams, a
 * maximum-size datagram on datagrams); `sync` serves one connection at a time
 * and the other modes do not; SIGTERM lets a request in flight finish, then
 * the process exits 0 and its socket file is gone.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  dgramClient,
  type EchoServer,
  killAll,
  lineBody,
  type ProcessFacts,
  processFacts,
  StreamClient,
  startEcho,
  type Target,
} from './helpers.js';

const TRANSPORTS = ['tcp', 'udp', 'unix', 'unix-dgram'] as const;
const MODES = ['sync', 'eventloop', 'threading', 'forking'] as const;
type Transport = (typeof TRANSPORTS)[number];
type Mode = (typeof MODES)[number];

const MIB = 1024 * 1024;
/** The largest UDP payload over IPv4. */
const UDP_MAX_IPV4 = 65_507;
/** The largest datagram the unix-dgram server takes whole (documented by the CLI). */
const UNIX_DGRAM_MAX = 65_536;

const dir = mkdtempSync(join(tmpdir(), 'socketserver-echo-'));

afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

function args(transport: Transport, mode: Mode): string[] {
  const where = transport.startsWith('unix')
    ? ['--unix', join(dir, `${transport}-${mode}.sock`)]
    : ['--port', '0'];
  return ['--transport', transport, '--mode', mode, ...where];
}

/** One client: a short line echoed at once, a 1 MiB line, a last line without newline at EOF. */
async function streamExchange(target: Target, index: number): Promise<void> {
  const client = await StreamClient.connect(target);
  const first = Buffer.from(`hello from client ${index}\n`);
  await client.write(first);
  // Echoed as soon as the line is complete, while the connection stays open.
  expect((await client.waitForLength(first.length)).equals(first)).toBe(true);
  const big = Buffer.concat([lineBody(MIB, index), Buffer.from('\n')]);
  const tail = Buffer.from(`no newline at the end ${index} \r\u00e9`);
  void client.write(big);
  const all = await client.end(tail);
  const expected = Buffer.concat([first, big, tail]);
  expect(all.length).toBe(expected.length);
  expect(all.equals(expected)).toBe(true);
}

/**
 * Client A holds a request open mid-line; client B sends a line. Concurrent
 * modes echo B at once; `sync` echoes B only after A has closed, and stays
 * silent on B while A's own round trips show the server is busy with A.
 */
async function oneAtATime(target: Target, mode: Mode, whileHeld: () => void): Promise<void> {
  const log: string[] = [];
  const a = await StreamClient.connect(target, log, 'A');
  await a.write('a1\n');
  await a.waitForLength(3); // A is being handled
  await a.write('a2 partial');
  const b = await StreamClient.connect(target, log, 'B');
  await b.write('b1\n');
  if (mode === 'sync') {
    let expected = 'a1\n';
    for (let round = 0; round < 5; round++) {
      const line = round === 0 ? ' done\n' : `round ${round}\n`;
      expected += round === 0 ? 'a2 partial done\n' : line;
      await a.write(line);
      await a.waitForLength(expected.length);
      expect(b.length).toBe(0); // not yet: the server is still on A
    }
    whileHeld();
    expect((await a.end()).toString()).toBe(expected);
    expect((await b.end()).toString()).toBe('b1\n');
    expect(log).toEqual(['A:data', 'A:end', 'B:data', 'B:end']);
  } else {
    await b.waitForLength(3); // at once, while A still holds its partial line
    expect(a.received().toString()).toBe('a1\n');
    whileHeld();
    expect((await b.end()).toString()).toBe('b1\n');
    expect((await a.end(' done\n')).toString()).toBe('a1\na2 partial done\n');
    expect(log).toEqual(['A:data', 'B:data', 'B:end', 'A:end']);
  }
}

/**
 * The mode is the one asked for: `forking` has child processes running the
 * host layer's script and the others have none; `threading` has more
 * threads than the same transport served on the event loop (its workers:
 * the first one starts with the server).
 */
function checkWhereHandlersRun(server: EchoServer, mode: Mode, baseline: ProcessFacts): void {
  const facts = processFacts(server.proc.pid!);
  const forked = facts.children.filter((cmdline) => cmdline.includes('socketserver-host.js'));
  if (mode === 'forking') expect(forked.length).toBeGreaterThan(0);
  else expect(facts.children).toEqual([]);
  if (mode === 'threading') expect(facts.threads).toBeGreaterThan(baseline.threads);
}

/** The threads of the same transport's server in `eventloop` mode, once ready: what threading must exceed. */
async function eventLoopFacts(transport: Transport): Promise<ProcessFacts> {
  const where = transport.startsWith('unix')
    ? ['--unix', join(dir, `${transport}-reference.sock`)]
    : ['--port', '0'];
  const reference = await startEcho(['--transport', transport, '--mode', 'eventloop', ...where]);
  const facts = processFacts(reference.proc.pid!);
  reference.proc.kill('SIGTERM');
  await reference.exited;
  return facts;
}

/** SIGTERM while a request is in flight: it finishes, then exit 0, socket file gone. */
async function sigtermInFlight(server: EchoServer, target: Target): Promise<void> {
  const client = await StreamClient.connect(target);
  await client.write('before\n');
  await client.waitForLength(7);
  server.proc.kill('SIGTERM');
  await server.waitForStderr(/SIGTERM received/);
  await client.write('after\n');
  await client.waitForLength(13);
  expect((await client.end('tail')).toString()).toBe('before\nafter\ntail');
  expect(await server.exited).toEqual({ code: 0, signal: null });
}

function dgramArgs(target: Target, index: number): string[] {
  return 'path' in target
    ? ['unix', target.path, join(dir, `client-${index}-${process.hrtime.bigint()}.sock`)]
    : ['inet', target.host, String(target.port)];
}

describe.concurrent('socketserver-echo: every transport in every mode', () => {
  for (const transport of TRANSPORTS) {
    for (const mode of MODES) {
      const stream = transport === 'tcp' || transport === 'unix';
      const cell = `${transport} ${mode}`;
      test(`${cell}: ready line, three clients byte for byte, SIGTERM graceful`, async () => {
        const server = await startEcho(args(transport, mode));
        expect(server.mode).toBe(mode);
        expect(server.target.transport).toBe(transport);
        try {
          const { target } = server;
          const baseline =
            mode === 'threading' ? await eventLoopFacts(transport) : processFacts(server.proc.pid!);
          if (stream) {
            await Promise.all([0, 1, 2].map((index) => streamExchange(target, index)));
            await oneAtATime(target, mode, () => checkWhereHandlersRun(server, mode, baseline));
            await sigtermInFlight(server, target);
          } else {
            const max = transport === 'udp' ? UDP_MAX_IPV4 : UNIX_DGRAM_MAX;
            // On unix-dgram, client 2 also sends one byte more than the maximum: it comes
            // back truncated, as documented (UDP cannot carry more than its maximum at all).
            const beyond = transport === 'unix-dgram' ? [`${max + 1}:${max}`] : [];
            const sizes = [
              ['5', '0', String(max)],
              ['1000', '8193'],
              ['30000', '1', ...beyond],
            ];
            const outs = await Promise.all(
              sizes.map((list, index) => dgramClient([...dgramArgs(target, index), ...list])),
            );
            expect(outs).toEqual(sizes.map((list) => `ok ${list.length}\n`));
            // Idle workers and children live on for 10 s after their last request.
            checkWhereHandlersRun(server, mode, baseline);
            server.proc.kill('SIGTERM');
            expect(await server.exited).toEqual({ code: 0, signal: null });
          }
          if ('path' in target) expect(existsSync(target.path)).toBe(false);
          expect(server.stdout()).toBe(`${server.readyLine}\n`);
          // No request failed on the way (handleError writes to stderr).
          expect(server.stderr()).toBe(
            'socketserver-echo: SIGTERM received, finishing requests in flight\n',
          );
        } catch (error) {
          // What the server said is the first thing to read when a cell fails.
          if (error instanceof Error) error.message += `\nserver stderr:\n${server.stderr()}`;
          throw error;
        }
      });
    }
  }
});

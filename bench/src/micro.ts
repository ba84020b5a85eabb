/**
 * Core alone, without sockets: `node micro.js <case> <count>` prints
 * `MICRO {"case", "nsPerOp"}` with the CPU time of this process per
 * operation. Cases:
 * - `dgram-plain`, `dgram-evloop`: one datagram request through
 *   `DatagramServer` (a fake transport fed 50 packets at a time, as 50 clients
 *   with one datagram outstanding), the serve loop, the mix-in, and the echo
 *   `DatagramRequestHandler` (rfile, wfile, reply).
 * - `dgram-evloop-single`: the same, one datagram at a time (each fed after
 *   the last reply, as datagrams arriving in separate events): the serve
 *   loop is idle when each one arrives.
 * - `lines-forawait`, `lines-readline`: one 64-byte line through a `Reader`
 *   taken by `for await` or by `await readline()`.
 *
 * Then, in a second pass of half as many operations, the bytes the V8 heap
 * allocated per operation (`bytesPerOp`): what was still in use at the end
 * plus what each garbage collection freed (`v8.GCProfiler`). That number
 * hardly depends on how busy the machine is.
 *
 * CPU time of one process is steadier than rates on a shared machine, so
 * these numbers track core's own overhead from run to run.
 *
 * @module
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { DatagramRequestHandler, DatagramServer, EventLoopMixIn, Reader } from '@socketserver/core';

type Address = { host: string; port: number; family: 'IPv4' };

async function datagrams(count: number, evloop: boolean, batch = 50): Promise<void> {
  let sent = 0;
  let target = 0;
  let wake: (() => void) | null = null;
  class FakeServer extends DatagramServer<Address> {
    protected override sendPacket(): Promise<void> {
      sent++;
      if (wake !== null && sent >= target) {
        const resolve = wake;
        wake = null;
        resolve();
      }
      return Promise.resolve();
    }
    feed(packet: Buffer, address: Address): void {
      this.receivePacket(packet, address);
    }
  }
  class Echo extends DatagramRequestHandler<Address> {
    override async handle(): Promise<void> {
      await this.wfile.write(await this.rfile.read());
    }
  }
  const Server = evloop ? EventLoopMixIn(FakeServer) : FakeServer;
  const server = new (Server as typeof FakeServer)(
    { host: '127.0.0.1', port: 1, family: 'IPv4' },
    Echo,
  );
  const serving = server.serveForever({ pollInterval: 60_000 });
  const packet = Buffer.alloc(64, 0x61);
  const address: Address = { host: '127.0.0.1', port: 5000, family: 'IPv4' };
  for (let done = 0; done < count; done += batch) {
    target = sent + batch;
    for (let i = 0; i < batch; i++) server.feed(packet, address);
    await new Promise<void>((resolve) => {
      if (sent >= target) resolve();
      else wake = resolve;
    });
  }
  await server.shutdown();
  await serving;
  await server.serverClose();
}

async function lines(count: number, forAwait: boolean): Promise<void> {
  const reader = new Reader({ flow: { pause() {}, resume() {} } });
  const line = Buffer.alloc(64, 0x61);
  line[63] = 0x0a;
  let taken = 0;
  let wake: (() => void) | null = null;
  const consumer = (async () => {
    const took = () => {
      taken++;
      if (wake !== null) {
        const resolve = wake;
        wake = null;
        resolve();
      }
    };
    if (forAwait) {
      for await (const _ of reader) took();
    } else {
      while ((await reader.readline()).length > 0) took();
    }
  })();
  for (let i = 0; i < count; i++) {
    reader.push(line);
    if (taken <= i) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  }
  reader.end();
  await consumer;
}

const CASES: Record<string, (count: number) => Promise<void>> = {
  'dgram-plain': (count) => datagrams(count, false),
  'dgram-evloop': (count) => datagrams(count, true),
  'dgram-evloop-single': (count) => datagrams(count, true, 1),
  'lines-forawait': (count) => lines(count, true),
  'lines-readline': (count) => lines(count, false),
};

async function main(): Promise<void> {
  const name = process.argv[2] ?? '';
  const count = Number(process.argv[3] ?? 200_000);
  const run = CASES[name];
  if (run === undefined) {
    process.stderr.write(`usage: node micro.js <${Object.keys(CASES).join('|')}> [count]\n`);
    process.exit(2);
  }
  await run(Math.max(1000, Math.floor(count / 4))); // warm up
  const before = process.cpuUsage();
  await run(count);
  const cpu = process.cpuUsage(before);
  const nsPerOp = ((cpu.user + cpu.system) * 1000) / count;
  const bytesPerOp = await allocatedPerOp(run, Math.max(1000, Math.floor(count / 2)));
  process.stdout.write(`MICRO ${JSON.stringify({ case: name, nsPerOp, bytesPerOp })}\n`);
}

/** Heap bytes allocated per operation: still used at the end, plus what each GC freed. */
async function allocatedPerOp(
  run: (count: number) => Promise<void>,
  count: number,
): Promise<number> {
  const profiler = new GCProfiler();
  profiler.start();
  const start = getHeapStatistics().used_heap_size;
  await run(count);
  const end = getHeapStatistics().used_heap_size;
  let freed = 0;
  for (const gc of profiler.stop().statistics) {
    freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  }
  return (end - start + freed) / count;
}

main().catch((error) => {
  process.stderr.write(`micro: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

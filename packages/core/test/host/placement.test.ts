/**
 * Where the pool places requests, with a driver whose hosts start only when
 * the test says so: no threads, no processes, no timing.
 */
import { describe, expect, it } from 'vitest';
import {
  defaultHostPoolSettings,
  type HostDriver,
  type HostEvents,
  type HostJob,
  HostPool,
  type HostPoolSettings,
} from '../../src/host/index.js';

/** A host the test drives: it records what it was given, and is ready or exits on demand. */
class FakeHost {
  static count = 0;
  readonly id = ++FakeHost.count;
  readonly jobs: number[] = [];
  constructor(readonly events: HostEvents) {}
  dispatch(id: number): void {
    this.jobs.push(id);
  }
  release(): void {}
  send(): void {}
  keepAlive(): void {}
  terminate(): void {
    this.events.exit(null, 'SIGKILL');
  }
  ready(): void {
    this.events.message({ t: 'ready' });
  }
  done(id: number): void {
    this.events.message({ t: 'done', id });
  }
}

function pool(settings: Partial<HostPoolSettings> = {}) {
  const hosts: FakeHost[] = [];
  const driver: HostDriver = {
    kind: 'thread',
    start: (_boot, events) => {
      const host = new FakeHost(events);
      hosts.push(host);
      return host;
    },
  };
  const all = { ...defaultHostPoolSettings(), maxHosts: 2, ...settings };
  const hostPool = new HostPool({
    driver,
    settings: () => all,
    boot: () => ({ handler: null, preparers: [], server: {}, parentExecArgv: [] }),
    onStrayError: () => {},
  });
  return { hostPool, hosts };
}

const stream = (): HostJob => ({ request: { write() {} }, clientAddress: '' });
const datagram = (): HostJob => ({
  request: { packet: Buffer.alloc(1), socket: {} },
  clientAddress: '',
});

describe('placing requests on hosts', () => {
  it('a connection waits for a starting host when every started one is busy; a datagram goes to a started one', async () => {
    const { hostPool, hosts } = pool({ maxHosts: 3 });
    const started = hostPool.start();
    hosts[0]!.ready();
    await started;
    void hostPool.submit(stream());
    expect(hosts[0]!.jobs).toEqual([1]);
    // The first host is busy: a second one starts, and the next connection waits for it.
    void hostPool.submit(stream());
    expect(hosts).toHaveLength(2);
    expect(hosts[1]!.jobs).toEqual([]);
    // A datagram does not wait for a starting host: the started one has room. A third host
    // starts meanwhile, for what comes next.
    void hostPool.submit(datagram());
    expect(hosts[0]!.jobs).toEqual([1, 3]);
    expect(hosts).toHaveLength(3);
    hosts[1]!.ready();
    hosts[2]!.ready();
    expect(hosts[1]!.jobs).toEqual([2]);
    // Then the least busy host takes the next.
    void hostPool.submit(stream());
    expect(hosts[2]!.jobs).toEqual([4]);
  });

  it('counts every live host against maxHosts, and bounds the waiting requests', async () => {
    const { hostPool, hosts } = pool({ maxHosts: 1, hostConcurrency: 1, maxWaitingRequests: 2 });
    const started = hostPool.start();
    hosts[0]!.ready();
    await started;
    const outcomes = [stream(), stream(), stream()].map((job) => hostPool.submit(job));
    expect(hosts).toHaveLength(1);
    expect(hostPool.waiting).toBe(2);
    expect(hostPool.full).toBe(true);
    hosts[0]!.done(1);
    await outcomes[0];
    expect(hosts[0]!.jobs).toEqual([1, 2]);
    expect(hostPool.full).toBe(false);
    // A host that dies fails what it holds; a new one takes what waits.
    hosts[0]!.terminate();
    await expect(outcomes[1]).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_HOST_EXITED' });
    expect(hosts).toHaveLength(2);
    hosts[1]!.ready();
    expect(hosts[1]!.jobs).toEqual([3]);
  });
});

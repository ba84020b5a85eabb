import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Lock } from '../../src/host/lock.js';
import { packShared, SharedState, unpackShared } from '../../src/host/shared-state.js';
import { reviveSnapshot, snapshotServer } from '../../src/host/snapshot.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('Lock', () => {
  it('tryAcquire, locked and release', () => {
    const lock = new Lock();
    expect(lock.locked).toBe(false);
    expect(lock.tryAcquire()).toBe(true);
    expect(lock.locked).toBe(true);
    expect(lock.tryAcquire()).toBe(false);
    lock.release();
    expect(lock.locked).toBe(false);
  });

  it('release of an unlocked lock throws ERR_SOCKETSERVER_LOCK_NOT_HELD', () => {
    expect(() => new Lock().release()).toThrow(
      expect.objectContaining({ code: 'ERR_SOCKETSERVER_LOCK_NOT_HELD' }),
    );
  });

  it('acquire and acquireAsync give up after their timeout while the lock is held', async () => {
    const lock = new Lock();
    lock.acquire();
    expect(lock.acquire(5)).toBe(false);
    expect(await lock.acquireAsync(5)).toBe(false);
    lock.release();
    expect(await lock.acquireAsync(5)).toBe(true);
    lock.release();
  });

  it('acquireAsync on the main thread waits for a worker thread to release it', async () => {
    const lock = new Lock();
    const ready = new Int32Array(new SharedArrayBuffer(4));
    // The worker takes the lock, says so, and releases it when told.
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       const cell = new Int32Array(workerData.lock, 0, 1);
       Atomics.store(cell, 0, 1);
       Atomics.store(workerData.ready, 0, 1); Atomics.notify(workerData.ready, 0);
       parentPort.once('message', () => {
         if (Atomics.exchange(cell, 0, 0) === 2) Atomics.notify(cell, 0, 1);
       });`,
      { eval: true, workerData: { lock: lock.buffer, ready } },
    );
    cleanups.push(async () => {
      await worker.terminate();
    });
    while (Atomics.load(ready, 0) === 0) {
      const wait = Atomics.waitAsync(ready, 0, 0);
      if (wait.async) await wait.value;
    }
    expect(lock.locked).toBe(true);
    const acquired = lock.acquireAsync();
    let taken = false;
    void acquired.then(() => {
      taken = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(taken).toBe(false);
    worker.postMessage('release');
    expect(await acquired).toBe(true);
    lock.release();
  });

  it('withLock and withLockAsync release even when fn throws', async () => {
    const lock = new Lock();
    expect(() =>
      lock.withLock(() => {
        throw new Error('x');
      }),
    ).toThrow('x');
    expect(lock.locked).toBe(false);
    await expect(lock.withLockAsync(async () => Promise.reject(new Error('y')))).rejects.toThrow(
      'y',
    );
    expect(lock.locked).toBe(false);
    expect(await lock.withLockAsync(() => 7)).toBe(7);
  });
});

describe('SharedState', () => {
  it('lays out aligned typed arrays over one SharedArrayBuffer', () => {
    const state = new SharedState({ a: 'uint8', b: 'float64', c: ['int32', 3], d: 'bigint64' });
    expect(state.fields.a).toBeInstanceOf(Uint8Array);
    expect(state.fields.b).toBeInstanceOf(Float64Array);
    expect(state.fields.c).toHaveLength(3);
    expect(state.fields.d).toBeInstanceOf(BigInt64Array);
    for (const field of Object.values(state.fields)) {
      expect(field.buffer).toBe(state.buffer);
      expect(field.byteOffset % field.BYTES_PER_ELEMENT).toBe(0);
    }
    expect(state.lock.buffer).toBe(state.buffer);
  });

  it('rejects an unknown type or a bad length at once', () => {
    expect(() => new SharedState({ x: 'string' as 'int32' })).toThrow(/unknown type/);
    expect(() => new SharedState({ x: ['int32', 0] })).toThrow(/length/);
  });

  it('packShared/unpackShared rebuild the same memory (what a worker gets)', () => {
    const state = new SharedState({ n: 'int32' });
    const lock = new Lock();
    const copy = unpackShared(structuredClone(packShared({ state, nested: [lock], plain: 1 }))) as {
      state: SharedState<{ n: 'int32' }>;
      nested: [Lock];
      plain: number;
    };
    copy.state.fields.n[0] = 42;
    expect(state.fields.n[0]).toBe(42);
    copy.nested[0].acquire();
    expect(lock.locked).toBe(true);
    lock.release();
    expect(copy.plain).toBe(1);
  });
});

describe('the server snapshot handlers in hosts see', () => {
  class Fake {
    serverAddress = { host: '127.0.0.1', port: 1, family: 'IPv4' };
    label = 'x';
    settings = new Map([['a', 1]]);
    state = new SharedState({ n: 'int32' });
    socket = { live: true };
    RequestHandlerClass = class {};
    onEvent = () => {};
    #secret = 1;
    get secret() {
      return this.#secret;
    }
  }

  it('a thread gets the data fields, with shared state over the same memory', () => {
    const server = new Fake();
    const seen = reviveSnapshot(structuredClone(snapshotServer(server, 'thread'))) as {
      state: SharedState<{ n: 'int32' }>;
    } & Record<string, unknown>;
    expect(Object.keys(seen).sort()).toEqual(['label', 'serverAddress', 'settings', 'state']);
    expect(seen.settings).toEqual(new Map([['a', 1]]));
    seen.state.fields.n[0] = 7;
    expect(server.state.fields.n[0]).toBe(7);
  });

  it('a child gets the data fields it can be sent, and no shared memory', () => {
    const seen = snapshotServer(new Fake(), 'process');
    expect(Object.keys(seen).sort()).toEqual(['label', 'serverAddress', 'settings']);
  });
});

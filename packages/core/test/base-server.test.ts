import { describe, expect, it } from 'vitest';
import { BaseRequestHandler } from '../src/base-request-handler.js';
import { EventLoopMixIn } from '../src/event-loop-mixin.js';
import { deferred, FakeServer } from './fake-server.js';

class Recorder extends BaseRequestHandler<string, string> {
  declare server: FakeServer;
  override setup() {
    this.server.log.push(`setup ${this.request}`);
  }
  override async handle() {
    this.server.log.push(`handle ${this.request}`);
    if (this.request.startsWith('throw')) throw new Error(`boom ${this.request}`);
  }
  override finish() {
    this.server.log.push(`finish ${this.request}`);
  }
}

describe('BaseServer lifecycle', () => {
  it('handleRequest runs setup, handle, finish, then shutdownRequest', async () => {
    const server = new FakeServer(Recorder);
    server.push('a');
    await server.handleRequest();
    expect(server.log).toEqual(['setup a', 'handle a', 'finish a', 'shutdown a']);
  });

  it('finish runs when handle throws; the error goes to handleError and the request is shut down', async () => {
    const server = new FakeServer(Recorder);
    server.push('throw1');
    await server.handleRequest();
    expect(server.log).toEqual([
      'setup throw1',
      'handle throw1',
      'finish throw1',
      'error throw1',
      'shutdown throw1',
    ]);
    expect((server.errors[0] as Error).message).toBe('boom throw1');
  });

  it('handleRequest with a timeout and no request calls handleTimeout', async () => {
    let timeouts = 0;
    const server = new (class extends FakeServer {
      override handleTimeout() {
        timeouts++;
      }
    })(Recorder);
    server.timeout = 10;
    await server.handleRequest();
    expect(timeouts).toBe(1);
    expect(server.log).toEqual([]);
  });

  it('verifyRequest false shuts the request down without handling it', async () => {
    const server = new (class extends FakeServer {
      override verifyRequest(request: string) {
        return request !== 'denied';
      }
    })(Recorder);
    server.push('denied');
    server.push('ok');
    await server.handleRequest();
    await server.handleRequest();
    expect(server.log).toEqual([
      'shutdown denied',
      'setup ok',
      'handle ok',
      'finish ok',
      'shutdown ok',
    ]);
  });

  it('serveForever handles queued requests, calls serviceActions, and stops on shutdown', async () => {
    const served = deferred();
    let actions = 0;
    const server = new (class extends FakeServer {
      override serviceActions() {
        actions++;
        if (this.log.includes('shutdown c')) served.resolve();
      }
    })(Recorder);
    const loop = server.serveForever({ pollInterval: 5 });
    expect(server.serving).toBe(true);
    server.push('a');
    server.push('b');
    server.push('c');
    await served.promise;
    await server.shutdown();
    await loop;
    expect(server.serving).toBe(false);
    expect(actions).toBeGreaterThanOrEqual(3);
    expect(server.log.filter((l) => l.startsWith('handle'))).toEqual([
      'handle a',
      'handle b',
      'handle c',
    ]);
  });

  it('a request arriving while serveForever is idle is taken in the same call, then serviceActions runs', async () => {
    let actions = 0;
    const servedB = deferred();
    const server = new (class extends FakeServer {
      override serviceActions() {
        actions++;
        if (this.log.includes('shutdown b')) servedB.resolve();
      }
    })(Recorder);
    const loop = server.serveForever({ pollInterval: 60_000 });
    // The loop is idle: push() runs its pass (the plain server's handler starts synchronously).
    server.push('a');
    expect(server.log).toEqual(['setup a', 'handle a']);
    expect(server.queuedRequests).toBe(0);
    // A plain server is busy until the request is done: the next one waits in the queue.
    server.push('b');
    expect(server.queuedRequests).toBe(1);
    expect(server.log).not.toContain('setup b');
    await servedB.promise;
    await server.shutdown();
    await loop;
    expect(server.log).toEqual([
      'setup a',
      'handle a',
      'finish a',
      'shutdown a',
      'setup b',
      'handle b',
      'finish b',
      'shutdown b',
    ]);
    expect(actions).toBeGreaterThanOrEqual(2);
  });

  it('shutdown called from a handler taken where it arrived waits for that request', async () => {
    const server = new (class extends FakeServer {})(
      class extends Recorder {
        override async handle() {
          void this.server.shutdown();
          await Promise.resolve();
          this.server.log.push(`handled ${this.request}`);
        }
      },
    );
    const loop = server.serveForever({ pollInterval: 60_000 });
    server.push('a');
    await loop;
    expect(server.log).toEqual(['setup a', 'handled a', 'finish a', 'shutdown a']);
    expect(server.serving).toBe(false);
  });

  it('a hook failing outside a request in a pass taken where it arrived rejects serveForever', async () => {
    const server = new (class extends FakeServer {
      override getRequest(): [string, string] | undefined {
        throw new Error('getRequest failed');
      }
    })(Recorder);
    const loop = server.serveForever({ pollInterval: 60_000 });
    server.push('a');
    await expect(loop).rejects.toThrow('getRequest failed');
    expect(server.serving).toBe(false);
  });

  it('serveForever refuses to run twice at once', async () => {
    const server = new FakeServer();
    const loop = server.serveForever({ pollInterval: 5 });
    await expect(server.serveForever()).rejects.toMatchObject({
      code: 'ERR_SOCKETSERVER_ALREADY_SERVING',
    });
    await server.shutdown();
    await loop;
  });

  it('shutdown resolves at once when not serving', async () => {
    await new FakeServer().shutdown();
  });

  it('a full queue refuses requests and reports once per burst', async () => {
    const server = new FakeServer();
    server.requestQueueSize = 1;
    expect(server.push('a')).toBe(true);
    expect(server.push('b')).toBe(false);
    expect(server.push('c')).toBe(false);
    expect(server.refusedRequests).toBe(2);
    expect(server.errors).toHaveLength(1);
    expect(server.errors[0]).toMatchObject({ code: 'ERR_SOCKETSERVER_QUEUE_FULL' });
  });

  it('await using stops serving and closes the server', async () => {
    let closed = false;
    let loop: Promise<void>;
    {
      await using server = new (class extends FakeServer {
        override async serverClose() {
          closed = true;
          await super.serverClose();
        }
      })();
      loop = server.serveForever({ pollInterval: 5 });
    }
    await loop;
    expect(closed).toBe(true);
  });
});

describe('EventLoopMixIn', () => {
  class Gate extends BaseRequestHandler<string, string> {
    static gates = new Map<string, ReturnType<typeof deferred<void>>>();
    static started = new Map<string, ReturnType<typeof deferred<void>>>();
    declare server: FakeServer;
    override async handle() {
      Gate.started.get(this.request)?.resolve();
      await Gate.gates.get(this.request)?.promise;
      this.server.log.push(`done ${this.request}`);
    }
  }
  const EventLoopFake = EventLoopMixIn(FakeServer);

  it('handles requests concurrently: the second finishes while the first still waits', async () => {
    const server = new EventLoopFake(Gate);
    for (const name of ['a', 'b']) {
      Gate.gates.set(name, deferred());
      Gate.started.set(name, deferred());
    }
    const loop = server.serveForever({ pollInterval: 5 });
    server.push('a');
    server.push('b');
    await Gate.started.get('a')!.promise;
    await Gate.started.get('b')!.promise;
    expect(server.activeRequests).toBe(2);
    Gate.gates.get('b')!.resolve();
    Gate.gates.get('a')!.resolve();
    await server.shutdown();
    await loop;
    await server.serverClose();
    expect(server.log.filter((l) => l.startsWith('done'))).toEqual(['done b', 'done a']);
    expect(server.activeRequests).toBe(0);
  });

  it('starts each request where it arrives while the loop is idle, with serviceActions after each', async () => {
    const actions: string[] = [];
    const server = new (class extends EventLoopFake {
      override serviceActions() {
        actions.push(`actions after ${this.activeRequests}`);
      }
    })(Gate);
    for (const name of ['p', 'q']) Gate.gates.set(name, deferred());
    const loop = server.serveForever({ pollInterval: 60_000 });
    server.push('p');
    expect(server.activeRequests).toBe(1);
    server.push('q');
    expect(server.activeRequests).toBe(2);
    expect(server.queuedRequests).toBe(0);
    expect(actions).toEqual(['actions after 1', 'actions after 2']);
    Gate.gates.get('p')!.resolve();
    Gate.gates.get('q')!.resolve();
    await server.shutdown();
    await loop;
    await server.serverClose();
    expect(server.log.filter((l) => l.startsWith('done')).sort()).toEqual(['done p', 'done q']);
  });

  it('maxConcurrentRequests holds further requests in the queue', async () => {
    const server = new EventLoopFake(Gate);
    server.maxConcurrentRequests = 1;
    for (const name of ['x', 'y']) {
      Gate.gates.set(name, deferred());
      Gate.started.set(name, deferred());
    }
    const loop = server.serveForever({ pollInterval: 5 });
    server.push('x');
    server.push('y');
    await Gate.started.get('x')!.promise;
    expect(server.activeRequests).toBe(1);
    expect(server.log).not.toContain('done y');
    Gate.gates.get('x')!.resolve();
    await Gate.started.get('y')!.promise;
    Gate.gates.get('y')!.resolve();
    await server.shutdown();
    await loop;
    await server.serverClose();
    expect(server.log.filter((l) => l.startsWith('done'))).toEqual(['done x', 'done y']);
  });

  it('shutdown is not held up by a request waiting for a slot under maxConcurrentRequests', async () => {
    const server = new EventLoopFake(Gate);
    server.maxConcurrentRequests = 1;
    for (const name of ['busy', 'next']) {
      Gate.gates.set(name, deferred());
      Gate.started.set(name, deferred());
    }
    const loop = server.serveForever({ pollInterval: 5 });
    server.push('busy');
    server.push('next');
    await Gate.started.get('busy')!.promise;
    // 'next' has left the queue: processRequest holds it, waiting for a slot.
    while (server.queuedRequests > 0) await new Promise((r) => setImmediate(r));
    expect(server.activeRequests).toBe(1);
    await server.shutdown();
    await loop;
    // The request in hand was started, not dropped.
    await Gate.started.get('next')!.promise;
    Gate.gates.get('next')!.resolve();
    Gate.gates.get('busy')!.resolve();
    await server.serverClose();
    expect(server.log.filter((l) => l.startsWith('done')).sort()).toEqual([
      'done busy',
      'done next',
    ]);
  });

  it('serverClose waits for requests in flight when blockOnClose, and errors reach handleError', async () => {
    const server = new EventLoopFake(Gate);
    Gate.gates.set('slow', deferred());
    Gate.started.set('slow', deferred());
    const loop = server.serveForever({ pollInterval: 5 });
    server.push('slow');
    await Gate.started.get('slow')!.promise;
    await server.shutdown();
    await loop;
    let closed = false;
    const closing = server.serverClose().then(() => {
      closed = true;
    });
    await Promise.resolve();
    expect(closed).toBe(false);
    Gate.gates.get('slow')!.resolve();
    await closing;
    expect(server.log).toEqual(['done slow', 'shutdown slow']);
  });

  it('a throwing handler under the mix-in reaches handleError and is shut down', async () => {
    const server = new EventLoopFake(Recorder);
    server.push('throw-a');
    await server.handleRequest();
    await server.serverClose();
    expect(server.log).toEqual([
      'setup throw-a',
      'handle throw-a',
      'finish throw-a',
      'error throw-a',
      'shutdown throw-a',
    ]);
  });
});

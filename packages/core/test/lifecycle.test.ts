import { describe, expect, it } from 'vitest';
import { BaseRequestHandler } from '../src/base-request-handler.js';
import { EventLoopMixIn } from '../src/event-loop-mixin.js';
import type { RequestPreparer } from '../src/types.js';
import { deferred, FakeServer } from './fake-server.js';

/** A handler that waits for its request to be released, and records closeWhenIdle. */
class Waiting extends BaseRequestHandler<string, string> {
  static releases = new Map<string, () => void>();
  declare server: FakeServer;
  override async handle() {
    this.server.log.push(`handle ${this.request} from ${this.clientAddress}`);
    await new Promise<void>((resolve) => Waiting.releases.set(this.request, resolve));
  }
  override closeWhenIdle() {
    this.server.log.push(`closeWhenIdle ${this.request}`);
    if (this.request.startsWith('idle')) Waiting.releases.get(this.request)?.();
  }
}

class EventLoopFake extends EventLoopMixIn(FakeServer) {}

describe('the request lifecycle core owns', () => {
  it('completeRequest is the one path of the plain and event-loop servers: handler, handleError, shutdownRequest', async () => {
    class Failing extends BaseRequestHandler<string, string> {
      declare server: FakeServer;
      override handle() {
        this.server.log.push(`handle ${this.request}`);
        throw new Error(`boom ${this.request}`);
      }
    }
    for (const Server of [FakeServer, EventLoopFake]) {
      const server = new Server(Failing);
      const loop = server.serveForever({ pollInterval: 5 });
      server.push('x');
      while (!server.log.includes('shutdown x')) await new Promise((r) => setImmediate(r));
      await server.shutdown();
      await loop;
      expect(server.log).toEqual(['handle x', 'error x', 'shutdown x']);
    }
  });

  it('a handleError that throws is ignored: shutdownRequest still runs and serving goes on', async () => {
    const server = new (class extends EventLoopFake {
      override handleError(): void {
        this.log.push('handleError threw');
        throw new Error('handleError failed');
      }
    })(
      class extends BaseRequestHandler<string, string> {
        override handle() {
          throw new Error('handler failed');
        }
      },
    );
    const loop = server.serveForever({ pollInterval: 5 });
    server.push('a');
    server.push('b');
    while (server.log.filter((l) => l.startsWith('shutdown')).length < 2) {
      await new Promise((r) => setImmediate(r));
    }
    await server.shutdown();
    await loop;
    expect(server.log).toEqual([
      'handleError threw',
      'shutdown a',
      'handleError threw',
      'shutdown b',
    ]);
  });

  it('shutdown asks running handlers to close when idle, and serverClose does again before it waits', async () => {
    const server = new EventLoopFake(Waiting);
    const loop = server.serveForever({ pollInterval: 5 });
    server.push('idle-1');
    server.push('busy-1');
    expect(server.activeRequests).toBe(2);
    await server.shutdown();
    await loop;
    // The idle one closed at shutdown; the busy one goes on.
    while (!server.log.includes('shutdown idle-1')) await new Promise((r) => setImmediate(r));
    expect(server.log).toContain('closeWhenIdle busy-1');
    expect(server.log).not.toContain('shutdown busy-1');
    const closing = server.serverClose();
    expect(server.log.filter((l) => l === 'closeWhenIdle busy-1')).toHaveLength(2);
    Waiting.releases.get('busy-1')!();
    await closing;
    expect(server.log).toContain('shutdown busy-1');
    expect(server.activeRequests).toBe(0);
  });

  it('closeWhenIdle reaches only handlers still running', async () => {
    const server = new EventLoopFake(Waiting);
    const loop = server.serveForever({ pollInterval: 5 });
    server.push('busy-a');
    Waiting.releases.get('busy-a')!();
    while (!server.log.includes('shutdown busy-a')) await new Promise((r) => setImmediate(r));
    await server.shutdown();
    await loop;
    await server.serverClose();
    expect(server.log.filter((l) => l.startsWith('closeWhenIdle'))).toEqual([]);
  });

  it('requestPreparers run before the handler is constructed and may replace the request and the address', async () => {
    const order: string[] = [];
    const first: RequestPreparer<string, string> = async (request, clientAddress) => {
      order.push(`first ${request} ${clientAddress}`);
      return { request: `${request}+tls` };
    };
    const second: RequestPreparer<string, string> = (request) => {
      order.push(`second ${request}`);
      return { clientAddress: 'real-peer' };
    };
    const server = new (class extends EventLoopFake {
      override requestPreparers() {
        return [...super.requestPreparers(), first, second];
      }
    })(Waiting);
    const loop = server.serveForever({ pollInterval: 5 });
    server.push('idle-p', 'proxy');
    while (!server.log.some((l) => l.startsWith('handle')))
      await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['first idle-p proxy', 'second idle-p+tls']);
    expect(server.log).toContain('handle idle-p+tls from real-peer');
    await server.shutdown();
    await loop;
    await server.serverClose();
    // shutdownRequest gets the request as it was accepted.
    expect(server.log).toContain('shutdown idle-p');
  });

  it('a preparer that fails sends the request to handleError without constructing the handler', async () => {
    const failed = deferred();
    const server = new (class extends EventLoopFake {
      override requestPreparers() {
        return [
          () => {
            throw new Error('handshake failed');
          },
        ];
      }
      override shutdownRequest(request: string): void {
        super.shutdownRequest(request);
        failed.resolve();
      }
    })(Waiting);
    const loop = server.serveForever({ pollInterval: 5 });
    server.push('p');
    await failed.promise;
    expect(server.log).toEqual(['error p', 'shutdown p']);
    expect((server.errors[0] as Error).message).toBe('handshake failed');
    await server.shutdown();
    await loop;
  });
});

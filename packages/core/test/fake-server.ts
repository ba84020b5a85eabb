import { BaseRequestHandler } from '../src/base-request-handler.js';
import { BaseServer } from '../src/base-server.js';

/** An in-memory server: requests are pushed by the test. */
export class FakeServer extends BaseServer<string, string> {
  readonly log: string[] = [];
  readonly errors: unknown[] = [];
  override requestQueueSize = 100;

  constructor(Handler: typeof BaseRequestHandler<string, string> = BaseRequestHandler) {
    super('fake', Handler as never);
  }

  push(request: string, from = 'peer'): boolean {
    return this.enqueueRequest(request, from);
  }

  override shutdownRequest(request: string): void {
    this.log.push(`shutdown ${request}`);
  }

  override handleError(request: string | null, _address: string | null, error: unknown): void {
    this.log.push(`error ${request}`);
    this.errors.push(error);
  }
}

/** A promise with its resolve function, for synchronising on events. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

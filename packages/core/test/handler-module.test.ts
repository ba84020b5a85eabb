import { afterAll, describe, expect, it } from 'vitest';
import { BaseRequestHandler } from '../src/base-request-handler.js';
import { assertNotHandlerHost, loadHandler, locateHandler } from '../src/handler-module.js';

const fixtures = new URL('./fixtures/', import.meta.url);

describe('handler location for worker and child hosts', () => {
  afterAll(() => {
    // loadHandler marked this process as a handler host; later test files may start servers.
    delete (globalThis as Record<symbol, unknown>)[Symbol.for('@socketserver/core.handlerHost')];
  });

  it('locateHandler reads static moduleUrl and the class name', () => {
    class Mine extends BaseRequestHandler {
      static override moduleUrl = 'file:///somewhere/mine.js';
    }
    expect(locateHandler(Mine)).toEqual({
      moduleUrl: 'file:///somewhere/mine.js',
      exportName: 'Mine',
    });
  });

  it('locateHandler without moduleUrl throws the fix', () => {
    class Nowhere extends BaseRequestHandler {}
    expect(() => locateHandler(Nowhere)).toThrow(
      expect.objectContaining({
        code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT',
        message: expect.stringContaining('static moduleUrl = import.meta.url'),
      }),
    );
  });

  it('loadHandler imports the class by name, or from a default export object', async () => {
    const Exported = await loadHandler({
      moduleUrl: new URL('handlers.mjs', fixtures).href,
      exportName: 'Exported',
    });
    expect(Exported.name).toBe('Exported');
    const Bundled = await loadHandler({
      moduleUrl: new URL('handlers.mjs', fixtures).href,
      exportName: 'Bundled',
    });
    expect(Bundled.name).toBe('Bundled');
  });

  it('loadHandler names a class the module does not export', async () => {
    await expect(
      loadHandler({ moduleUrl: new URL('handlers.mjs', fixtures).href, exportName: 'Hidden' }),
    ).rejects.toThrow(/does not export Hidden/);
  });

  it('a module that starts a server when imported in a handler host fails clearly', async () => {
    await expect(
      loadHandler({ moduleUrl: new URL('starts-server.mjs', fixtures).href, exportName: 'Late' }),
    ).rejects.toMatchObject({ code: 'ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST' });
    expect(() => assertNotHandlerHost()).toThrow(/handler module starts a server/);
  });
});

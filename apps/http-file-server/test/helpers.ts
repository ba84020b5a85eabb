/** Shared test helpers: a file server on a temp directory. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileServer, type FileServer, type FileServerOptions } from '../src/index.js';

export interface Running {
  server: FileServer;
  port: number;
  base: string;
  stop(): Promise<void>;
}

/** Starts a quiet file server on 127.0.0.1:0 serving `directory`. */
export async function start(options: FileServerOptions): Promise<Running> {
  const server = await createFileServer({ host: '127.0.0.1', port: 0, quiet: true, ...options });
  const serving = server.serveForever({ pollInterval: 50 });
  const port = (server.serverAddress as { port: number }).port;
  return {
    server,
    port,
    base: `http://127.0.0.1:${port}`,
    async stop() {
      await server.shutdown();
      await serving;
      for (const handler of server.httpConnections) handler.connection.destroy();
      await server.serverClose();
    },
  };
}

/** A fresh temp directory; `cleanup` removes it. */
export function tempDir(prefix = 'sshttp-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

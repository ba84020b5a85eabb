/**
 * The example: an echo server on the event loop, and an HTTP server on
 * another port whose `/metrics` Prometheus scrapes.
 *
 * @module
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  EventLoopMixIn,
  formatAddress,
  type InetAddress,
  StreamRequestHandler,
} from '@socketserver/core';
import { TCPServer } from '@socketserver/transport-inet';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { exportMetrics } from './metrics.ts';

/** Echoes each line. The line `fail` makes it throw: a failed request to see in the metrics. */
export class EchoHandler extends StreamRequestHandler {
  override async handle(): Promise<void> {
    for await (const line of this.rfile) {
      if (line.toString().trim() === 'fail') throw new Error('the client sent "fail"');
      await this.wfile.write(line);
    }
  }
}

/** `EventLoopMixIn(TCPServer)` whose failed requests are one line each, through `log`. */
export class EchoServer extends EventLoopMixIn(TCPServer) {
  /** Where `handleError` writes (default: stderr). */
  log: (line: string) => void = (line) => console.error(line);

  override handleError(_request: unknown, clientAddress: InetAddress | null, error: unknown): void {
    this.log(`request from ${formatAddress(clientAddress)} failed: ${String(error)}`);
  }
}

/** Where the example listens. */
export interface ExampleOptions {
  /** Host of both servers (default `127.0.0.1`). */
  host?: string;
  /** The echo server's port (default 7007; 0: any free port). */
  port?: number;
  /** The metrics endpoint's port (default 9464, Prometheus' usual exporter port; 0: any). */
  metricsPort?: number;
  /** Where failed requests are reported (default stderr). */
  log?: (line: string) => void;
}

/** The running example. */
export interface Example {
  echo: EchoServer;
  /** `http://host:port/metrics` */
  metricsUrl: string;
  /** Stops serving, closes both servers, unsubscribes. */
  close(): Promise<void>;
}

/** Starts the echo server and its metrics endpoint. */
export async function startExample(options: ExampleOptions = {}): Promise<Example> {
  const { host = '127.0.0.1', port = 7007, metricsPort = 9464, log } = options;
  const echo = await EchoServer.create({ host, port }, EchoHandler);
  if (log) echo.log = log;

  const registry = new Registry();
  collectDefaultMetrics({ register: registry }); // the process: CPU, memory, event loop delay
  const stopMetrics = exportMetrics(echo, registry);
  const http = await serveMetrics(registry, host, metricsPort);

  const serving = echo.serveForever();
  const { port: boundPort } = http.address() as AddressInfo;
  return {
    echo,
    metricsUrl: `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}/metrics`,
    async close() {
      await echo.shutdown();
      await serving;
      await echo.serverClose();
      stopMetrics();
      http.close();
      await once(http, 'close');
    },
  };
}

/** An HTTP server answering `GET /metrics` with the registry in Prometheus' text format. */
async function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const http = createServer(async (request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end('Not found: try /metrics\n');
      return;
    }
    try {
      const text = await registry.metrics();
      response.writeHead(200, { 'Content-Type': registry.contentType }).end(text);
    } catch (error) {
      response.writeHead(500).end(`${String(error)}\n`);
    }
  });
  http.listen(port, host);
  await once(http, 'listening');
  return http;
}

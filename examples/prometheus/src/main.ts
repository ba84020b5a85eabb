#!/usr/bin/env node
/**
 * Runs the example until SIGINT or SIGTERM:
 *
 * ```sh
 * node dist/main.js [--port 7007] [--metrics-port 9464] [--host 127.0.0.1]
 * ```
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { startExample } from './example.ts';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '7007' },
    'metrics-port': { type: 'string', default: '9464' },
  },
});

const example = await startExample({
  host: values.host,
  port: Number(values.port),
  metricsPort: Number(values['metrics-port']),
});
const { host, port } = example.echo.serverAddress;
console.log(`echo server on tcp://${host}:${port}, metrics on ${example.metricsUrl}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void example.close());
}

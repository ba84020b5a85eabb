/**
 * A server's `stats()` and diagnostics channels as Prometheus metrics, with
 * `prom-client`. Copy this file: `exportMetrics(server, registry)` is all it
 * takes, for any @socketserver server in any mode.
 *
 * - `stats()` is read when Prometheus scrapes (each metric's `collect()`):
 *   gauges for what is true now (`active`, `queued`, `connections`,
 *   `hosts`), counters for what only grows (`accepted`, `completed`, ...).
 * - The request channels feed a histogram of request durations by outcome
 *   and a counter of errors by error name, as requests end.
 *
 * @module
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  type BaseServer,
  CHANNELS,
  type RequestMessage,
  type ServerStats,
} from '@socketserver/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The numbers in `stats()`. */
type Count = Exclude<keyof ServerStats, 'mode'>;

/** `stats()` fields that are true now: exported as gauges. */
const GAUGES: Array<[Count, string]> = [
  ['active', 'Requests in progress'],
  ['queued', 'Requests waiting for the server, or for a worker thread or child process'],
  ['connections', 'Connections open now'],
  ['hosts', 'Worker threads or child processes running (threading and forking modes)'],
];

/** `stats()` fields that only grow: exported as counters (`<name>_total`). */
const COUNTERS: Array<[Count, string, string]> = [
  ['accepted', 'accepted', 'Connections accepted, or datagrams received'],
  ['rejected', 'rejected', 'Requests refused before their handler'],
  ['completed', 'completed', 'Requests whose handler returned'],
  ['failed', 'failed', 'Requests whose handler threw'],
  ['abandoned', 'abandoned', 'Requests whose peer left before they were prepared'],
  ['bytesIn', 'received_bytes', 'Bytes received'],
  ['bytesOut', 'sent_bytes', 'Bytes sent'],
];

/** Options of {@link exportMetrics}. */
export interface MetricsOptions {
  /** Prefix of every metric name (default `socketserver_`); one prefix per server in a registry. */
  prefix?: string;
  /** Histogram buckets of request durations, in seconds (default prom-client's). */
  buckets?: number[];
}

/**
 * Registers `server`'s metrics in `registry` and subscribes to the request
 * channels. Returns a function that unsubscribes (call it when the server
 * closes).
 */
export function exportMetrics(
  server: BaseServer<any, any>,
  registry: Registry,
  { prefix = 'socketserver_', buckets }: MetricsOptions = {},
): () => void {
  const registers = [registry];
  const hasHosts = server.stats().hosts !== undefined;
  for (const [field, help] of GAUGES) {
    if (field === 'hosts' && !hasHosts) continue;
    new Gauge({
      name: `${prefix}${field}`,
      help,
      registers,
      collect() {
        this.set(server.stats()[field] ?? 0);
      },
    });
  }
  for (const [field, name, help] of COUNTERS) {
    // A counter can only be increased: add what was counted since the last scrape.
    let seen = 0;
    new Counter({
      name: `${prefix}${name}_total`,
      help,
      registers,
      collect() {
        const now = server.stats()[field] ?? 0;
        this.inc(now - seen);
        seen = now;
      },
    });
  }

  const duration = new Histogram({
    name: `${prefix}request_duration_seconds`,
    help: 'Time from a request reaching its handler to its end, by outcome',
    labelNames: ['outcome'],
    registers,
    ...(buckets && { buckets }),
  });
  const errors = new Counter({
    name: `${prefix}request_errors_total`,
    help: 'Requests that failed, by the name of the error',
    labelNames: ['error'],
    registers,
  });
  // Channels are process-wide: keep this server's messages only.
  const onFinish = (message: unknown) => {
    const { server: from, outcome, duration: ms } = message as RequestMessage;
    if (from === server) duration.observe({ outcome: outcome! }, ms! / 1000);
  };
  const onError = (message: unknown) => {
    const { server: from, error } = message as RequestMessage;
    if (from === server) errors.inc({ error: errorName(error) });
  };
  subscribe(CHANNELS.requestFinish, onFinish);
  subscribe(CHANNELS.requestError, onError);
  return () => {
    unsubscribe(CHANNELS.requestFinish, onFinish);
    unsubscribe(CHANNELS.requestError, onError);
  };
}

/** A label value with few possible values: the error's class name (`Error`, `TimeoutError`, ...). */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

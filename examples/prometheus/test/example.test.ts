import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { connect } from 'node:net';
import { CHANNELS } from '@socketserver/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Example, startExample } from '../src/example.ts';

const running: Example[] = [];
const subscriptions: Array<() => void> = [];

afterEach(async () => {
  for (const stop of subscriptions.splice(0)) stop();
  await Promise.all(running.splice(0).map((example) => example.close()));
});

/** Starts the example on loopback, any free ports; failed requests' lines go to `logs`. */
async function start(logs: string[] = []): Promise<Example> {
  const example = await startExample({
    port: 0,
    metricsPort: 0,
    log: (line) => logs.push(line),
  });
  running.push(example);
  return example;
}

/**
 * Counts `example`'s messages on a channel; `reach(n)` resolves once `n`
 * have been published (the metrics' own subscriber, registered first, has
 * seen them by then).
 */
function counting(example: Example, channel: string): { reach(n: number): Promise<void> } {
  let seen = 0;
  const waiters: Array<[number, () => void]> = [];
  const listener = (message: unknown) => {
    if ((message as { server: unknown }).server !== example.echo) return;
    seen++;
    for (const [n, resolve] of waiters) if (seen >= n) resolve();
  };
  subscribe(channel, listener);
  subscriptions.push(() => unsubscribe(channel, listener));
  return {
    reach: (n) =>
      seen >= n ? Promise.resolve() : new Promise((resolve) => waiters.push([n, resolve])),
  };
}

/** One connection: sends `lines`, ends, and returns what came back once the server closed it. */
async function session(example: Example, lines: string[]): Promise<string> {
  const { host, port } = example.echo.serverAddress;
  const socket = connect({ host, port });
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.end(lines.join(''));
  await once(socket, 'close');
  return Buffer.concat(received).toString();
}

/** Scrapes `/metrics` and parses the text format: `name{labels}` -> value. */
async function scrape(example: Example): Promise<Map<string, number>> {
  const response = await fetch(example.metricsUrl);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

describe('examples/prometheus', () => {
  it('exports exact counts of a small load: 4 echo sessions and one handler error', async () => {
    const logs: string[] = [];
    const example = await start(logs);
    const finished = counting(example, CHANNELS.requestFinish);
    const closed = counting(example, CHANNELS.connectionClose);

    const lines = ['one\n', 'two\n', 'three\n'];
    const bytes = lines.join('').length; // 14
    for (let i = 0; i < 4; i++) expect(await session(example, lines)).toBe(lines.join(''));
    expect(await session(example, ['fail\n'])).toBe('');
    await finished.reach(5);
    await closed.reach(5);

    const metrics = await scrape(example);
    expect({
      accepted: metrics.get('socketserver_accepted_total'),
      completed: metrics.get('socketserver_completed_total'),
      failed: metrics.get('socketserver_failed_total'),
      rejected: metrics.get('socketserver_rejected_total'),
      abandoned: metrics.get('socketserver_abandoned_total'),
      received: metrics.get('socketserver_received_bytes_total'),
      sent: metrics.get('socketserver_sent_bytes_total'),
      active: metrics.get('socketserver_active'),
      queued: metrics.get('socketserver_queued'),
      connections: metrics.get('socketserver_connections'),
      finishedCompleted: metrics.get(
        'socketserver_request_duration_seconds_count{outcome="completed"}',
      ),
      finishedFailed: metrics.get('socketserver_request_duration_seconds_count{outcome="failed"}'),
      errors: metrics.get('socketserver_request_errors_total{error="Error"}'),
    }).toEqual({
      accepted: 5,
      completed: 4,
      failed: 1,
      rejected: 0,
      abandoned: 0,
      received: 4 * bytes + 'fail\n'.length,
      sent: 4 * bytes,
      active: 0,
      queued: 0,
      connections: 0,
      finishedCompleted: 4,
      finishedFailed: 1,
      errors: 1,
    });
    // An event-loop server runs no worker threads or child processes: no hosts gauge.
    expect(metrics.has('socketserver_hosts')).toBe(false);
    // Durations are real: the histogram's sum is positive, within the test's own time.
    const sum = metrics.get('socketserver_request_duration_seconds_sum{outcome="completed"}')!;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(30);
    expect(logs).toEqual([expect.stringMatching(/^request from 127\.0\.0\.1:\d+ failed: Error: /)]);
    // Process metrics from collectDefaultMetrics come along.
    expect(metrics.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });

  it('counts each request once however often Prometheus scrapes', async () => {
    const example = await start();
    const finished = counting(example, CHANNELS.requestFinish);
    await session(example, ['a\n']);
    await finished.reach(1);
    const first = await scrape(example);
    const second = await scrape(example);
    expect(first.get('socketserver_completed_total')).toBe(1);
    expect(second.get('socketserver_completed_total')).toBe(1);
    expect(second.get('socketserver_received_bytes_total')).toBe(2);

    await session(example, ['b\n', 'c\n']);
    await finished.reach(2);
    const third = await scrape(example);
    expect(third.get('socketserver_completed_total')).toBe(2);
    expect(third.get('socketserver_received_bytes_total')).toBe(6);
    expect(third.get('socketserver_request_duration_seconds_count{outcome="completed"}')).toBe(2);
  });

  it("counts only its own server's requests when several run in one process", async () => {
    const [mine, other] = [await start(), await start()];
    const otherFinished = counting(other, CHANNELS.requestFinish);
    await session(other, ['x\n']);
    await session(other, ['y\n']);
    await otherFinished.reach(2);
    const metrics = await scrape(mine);
    expect(metrics.get('socketserver_accepted_total')).toBe(0);
    expect(metrics.has('socketserver_request_duration_seconds_count{outcome="completed"}')).toBe(
      false,
    );
    expect((await scrape(other)).get('socketserver_accepted_total')).toBe(2);
  });

  it('answers 404 anywhere but /metrics', async () => {
    const example = await start();
    const response = await fetch(new URL('/', example.metricsUrl));
    expect(response.status).toBe(404);
    expect(await response.text()).toBe('Not found: try /metrics\n');
  });
});

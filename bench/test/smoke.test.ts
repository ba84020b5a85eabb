/**
 * The smoke pass CI runs so the benchmark keeps working: `run.js --smoke`
 * (tiny durations and counts) must run every row, get every reply right,
 * print the report, and leave no process behind. No timing is asserted.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { nativeGeneratorBuilt } from '../src/native-gen.js';
import { benchDir } from '../src/procs.js';

let dir = '';

beforeAll(() => {
  if (!existsSync(resolve(benchDir, 'dist', 'run.js'))) {
    throw new Error('bench is not built: run `pnpm --filter @socketserver/bench run build` first');
  }
  dir = mkdtempSync(join(tmpdir(), 'ssbench-smoke-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Rows of the worker and child-process mix-ins. With `--smoke`'s six rows at
 * once, on two cores, their pools can take longer than the 1 s reply timeout
 * to start, so the full pass does not count their lost replies; the second
 * test runs them one at a time and allows none.
 */
const POOLED = /:(threading|forking)$/;

/** A row may only be skipped because a package is missing or not built, never because it failed. */
const MISSING = /does not exist|is not built|has no |failed to load/;

/** Runs `dist/run.js` with `args`; it is interrupted after 50 s. */
async function runBench(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [resolve(benchDir, 'dist', 'run.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const timer = setTimeout(() => child.kill('SIGINT'), 50_000);
  const code = await new Promise<number | null>((done) => child.once('exit', (exit) => done(exit)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

it('runs every row of the benchmark with no wrong or lost reply', async () => {
  const json = join(dir, 'smoke.json');
  const { code, stdout, stderr } = await runBench(['--smoke', '--json', json]);
  expect(code, stderr).toBe(0);
  expect(stdout).toContain('## Goals');
  expect(stdout).toContain('## HTTP file server');

  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    generator: string;
    rows: Array<{
      id: string;
      result?: {
        status: string;
        reason?: string;
        mismatches: number;
        lost: number;
        connected: number;
      };
    }>;
    memory: Array<{ id: string; status: string; reason?: string; connections: number }>;
    micro: Array<{
      id: string;
      nsPerOp: number | null;
      bytesPerOp: number | null;
      reason?: string;
    }>;
  };
  // The native generator runs whenever it was built; the header says which one ran.
  expect(report.generator).toBe(nativeGeneratorBuilt() ? 'native' : 'node');
  expect(stdout).toMatch(/generator: (native C|Node)/);
  expect(report.rows.length).toBeGreaterThan(30);
  for (const row of report.rows) {
    const result = row.result;
    expect(result, row.id).toBeDefined();
    if (result!.status === 'unavailable') {
      expect(result!.reason, row.id).toMatch(MISSING);
      continue;
    }
    expect(`${row.id}: ${result!.status} ${result!.reason ?? ''}`).toBe(`${row.id}: ok `);
    expect(result!.connected, row.id).toBeGreaterThan(0);
    expect(result!.mismatches, row.id).toBe(0);
    // Pooled rows may lose replies here (see POOLED); the next test allows them none.
    if (!POOLED.test(row.id)) expect(result!.lost, row.id).toBe(0);
  }
  // The core rows and Python's never count as unavailable.
  for (const id of [
    'tcp:raw',
    'tcp:evloop',
    'tcp:plain',
    'udp:raw',
    'udp:evloop',
    'tcp:py-threading',
    'udp:py-plain',
    'unix:raw',
  ]) {
    expect(report.rows.find((row) => row.id === id)?.result?.status, id).toBe('ok');
  }
  expect(report.memory.map((entry) => entry.id)).toEqual([
    'mem:tcp-raw',
    'mem:tcp-evloop',
    'mem:unix-raw',
    'mem:unix-evloop',
    'mem:tcp-evloop-1000',
    'mem:tcp-threading',
    'mem:tcp-forking',
  ]);
  expect(report.micro.map((entry) => entry.id)).toEqual([
    'dgram-plain',
    'dgram-evloop',
    'dgram-evloop-single',
    'lines-forawait',
    'lines-readline',
  ]);
  for (const entry of report.micro) {
    expect(entry.reason, entry.id).toBeUndefined();
    expect(entry.nsPerOp, entry.id).toBeGreaterThan(0);
    expect(entry.bytesPerOp, entry.id).toBeGreaterThan(0);
  }
  for (const entry of report.memory) {
    if (entry.status === 'unavailable') expect(entry.reason, entry.id).toMatch(MISSING);
    else expect(`${entry.id}: ${entry.status} ${entry.reason ?? ''}`).toBe(`${entry.id}: ok `);
  }
}, 60_000);

it('the worker and child-process mix-ins, one row at a time, lose no reply', async () => {
  const json = join(dir, 'pooled.json');
  const args = ['--smoke', '--only', 'threading,forking', '--parallel', '1', '--no-memory'];
  const { code, stderr } = await runBench([...args, '--json', json]);
  expect(code, stderr).toBe(0);
  const report = JSON.parse(readFileSync(json, 'utf8')) as {
    rows: Array<{ id: string; result?: { status: string; mismatches: number; lost: number } }>;
  };
  const ours = report.rows.filter((row) => POOLED.test(row.id));
  expect(ours.length).toBeGreaterThanOrEqual(10);
  for (const row of ours) {
    if (row.result?.status === 'unavailable') continue;
    expect(`${row.id}: ${row.result?.status}`).toBe(`${row.id}: ok`);
    expect(`${row.id}: ${row.result!.mismatches}/${row.result!.lost}`).toBe(`${row.id}: 0/0`);
  }
}, 60_000);

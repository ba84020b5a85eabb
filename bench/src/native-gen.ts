/**
 * The native load generator (`native/loadgen.c`, built into
 * `dist/loadgen-native` when a C compiler is there): the same job and the
 * same messages as `loadgen.ts`, at a fraction of its CPU per request.
 * This module only knows how to find it and talk to it: the config goes
 * as `--field value` flags (the fields of {@link LoadConfig}), messages
 * come back as JSON lines on its stdout, and control lines (`start`,
 * `release`) go to its stdin; it exits when its stdin closes.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ControlMessage, LoadConfig } from './load-config.js';

/** Which load generator runs: `native` (C, `dist/loadgen-native`) or `node` (`dist/loadgen.js`). */
export type GeneratorKind = 'native' | 'node';

/** Where `pnpm run build` puts the native generator. */
export const nativeGeneratorPath = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  'dist',
  'loadgen-native',
);

/** Whether the native generator was built (the build skips it when no C compiler is found). */
export function nativeGeneratorBuilt(): boolean {
  return existsSync(nativeGeneratorPath);
}

/** The native generator's command-line flags for a config: `--<field> <value>` per field set. */
export function nativeGeneratorArgs(config: LoadConfig): string[] {
  const args: string[] = [];
  for (const [name, value] of Object.entries(config)) {
    if (value === undefined || value === null) continue;
    args.push(`--${name}`, String(value));
  }
  return args;
}

/** A started native generator: its process, its messages as events, and its control channel. */
export interface NativeGeneratorProcess {
  child: ChildProcess;
  /** Emits `'message'` with each JSON line the generator prints. */
  messages: EventEmitter;
  send(control: ControlMessage): void;
}

/** Spawns the native generator with `config` (stdin, stdout and stderr are pipes). */
export function spawnNativeGenerator(config: LoadConfig): NativeGeneratorProcess {
  const child = spawn(nativeGeneratorPath, nativeGeneratorArgs(config), {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const messages = new EventEmitter();
  createInterface({ input: child.stdout!, crlfDelay: Number.POSITIVE_INFINITY }).on(
    'line',
    (line: string) => {
      if (line.trim() === '') return;
      try {
        messages.emit('message', JSON.parse(line));
      } catch {
        // not a message: ignore it
      }
    },
  );
  child.stdin!.on('error', () => {});
  return {
    child,
    messages,
    send: (control) => {
      if (child.stdin!.writable) child.stdin!.write(`${control.type}\n`);
    },
  };
}

/** Running the `socketserver-http` command (dist/cli.js) as a child process, as a user would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

const CLI = resolve(import.meta.dirname, '..', 'dist', 'cli.js');
const children = new Set<ChildProcess>();

/** A running command. */
export interface Cli {
  child: ChildProcess;
  /** The TCP port it serves (0 on a Unix socket). */
  port: number;
  /** Its "Serving HTTP on ..." line. */
  line: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts the command in `cwd` (with `env` added to this process's) and waits for its "Serving HTTP" line. */
export function startCli(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Cli> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((done) =>
    child.on('exit', (code) => {
      children.delete(child);
      done(code);
    }),
  );
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`no serving line; stderr: ${stderr}`)), 15_000);
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const match =
        /Serving HTTPS? on (?:\S+ port (\d+) \(https?:\/\/\S+\/\)|unix socket \S+) \.\.\.(?: \([^\n]*\))?\n/.exec(
          stdout,
        );
      if (match) {
        clearTimeout(timer);
        ready({ child, port: Number(match[1] ?? 0), line: match[0], stderr: () => stderr, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`exited ${code}: ${stderr}`));
    });
  });
}

/** Runs the command in `cwd` to completion. */
export function runCli(
  cwd: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((done) =>
    child.on('close', (code) => {
      children.delete(child);
      done({ code, stdout, stderr });
    }),
  );
}

/** Resolves once `text` appears in the command's stderr. */
export async function stderrContains(cli: Cli, text: string): Promise<void> {
  while (!cli.stderr().includes(text)) {
    await new Promise((done) => cli.child.stderr!.once('data', done));
  }
}

/** Kills every command still running (for `afterAll`). */
export function stopAllClis(): void {
  for (const child of children) child.kill('SIGKILL');
}

/**
 * Loading the package's Unix datagram addon: at import time, from the
 * prebuilt binary, independent of Node 20's realpath quirk after a
 * synchronous stat of a socket, and with a clear error when it is missing.
 * The child-process cases run the built package (dist/), as an application
 * would.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unixDgramAvailable } from '../src/index.js';
import { addonCandidates } from '../src/native-addon.js';
import { makeTempDir } from './helpers.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const coreDir = await realpath(join(packageDir, 'node_modules', '@socketserver', 'core'));

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir());
});
afterAll(() => cleanup());

function runNode(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Without NODE_PATH: package-manager shims point it at their hoisted store.
    const env = { ...process.env, NODE_PATH: '' };
    execFile(process.execPath, args, { cwd, env, timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

describe('Unix datagram addon loading', () => {
  it('is loaded at import time, from the prebuilt binary for this platform', () => {
    expect(unixDgramAvailable).toBe(true);
    expect(addonCandidates()[0]).toContain(`prebuilds/${process.platform}-${process.arch}`);
  });

  it('the package loads the addon even right after the application stat-ed a socket synchronously', async () => {
    // A CommonJS application that has loaded something from the same tree
    // (so the realpath cache knows its directories), then lstatSync-s a
    // socket, then requires this package: the bug's exact conditions.
    const app = join(dir, 'app.cjs');
    await writeFile(
      app,
      `
      const { lstatSync } = require('node:fs');
      const { createServer } = require('node:net');
      require(${JSON.stringify(join(coreDir, 'dist', 'index.js'))});
      const path = process.argv[2];
      const server = createServer().listen(path, () => {
        lstatSync(path);
        const unix = require(${JSON.stringify(join(packageDir, 'dist', 'index.js'))});
        server.close();
        console.log(unix.unixDgramAvailable);
      });
    `,
    );
    const out = await runNode([app, join(dir, 'app.sock')], dir);
    expect(out.trim()).toBe('true');
  });

  describe('when the addon is missing', () => {
    let app: string;
    beforeAll(async () => {
      // An installation with the package and core but no prebuilt binary (another platform).
      app = join(dir, 'app-without-addon');
      const target = join(app, 'node_modules', '@socketserver', 'transport-unix');
      await mkdir(target, { recursive: true });
      await cp(join(packageDir, 'dist'), join(target, 'dist'), { recursive: true });
      await cp(join(packageDir, 'package.json'), join(target, 'package.json'));
      await symlink(coreDir, join(app, 'node_modules', '@socketserver', 'core'));
    });

    const check = `
      const stream = await unix.UnixStreamServer.create(process.argv[1], class {});
      await stream.serverClose();
      let error;
      try { new unix.UnixDatagramServer(process.argv[2], class {}); } catch (e) { error = e; }
      console.log(JSON.stringify({
        available: unix.unixDgramAvailable,
        name: error?.name,
        code: error?.code,
        message: error?.message,
        instance: error instanceof unix.NativeAddonMissingError,
      }));
    `;

    for (const kind of ['ESM', 'CommonJS'] as const) {
      it(`${kind}: the import works, UnixStreamServer works, UnixDatagramServer throws a clear error`, async () => {
        const script =
          kind === 'ESM'
            ? `const unix = await import('@socketserver/transport-unix');${check}`
            : `(async () => { const unix = require('@socketserver/transport-unix');${check} })().catch((e) => { console.error(e); process.exit(1); });`;
        const out = await runNode(
          [
            ...(kind === 'ESM' ? ['--input-type=module'] : []),
            '-e',
            script,
            join(dir, `s-${kind}`),
            join(dir, `d-${kind}`),
          ],
          app,
        );
        const result = JSON.parse(out);
        expect(result).toMatchObject({
          available: false,
          name: 'NativeAddonMissingError',
          code: 'ERR_SOCKETSERVER_NATIVE_ADDON_MISSING',
          instance: true,
        });
        expect(result.message).toContain(
          `no prebuilt binary for ${process.platform}-${process.arch}`,
        );
        expect(result.message).toMatch(/scripts\/build-native\.mjs/);
      });
    }
  });
});

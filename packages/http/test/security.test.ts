/**
 * Nothing outside the served root is read or listed: traversal in every
 * encoding, absolute-form targets, symbolic links, dotfiles, special files.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useProcFdForTesting } from '../src/open-inside.js';
import { type Running, raw, start, statusOf, tempDir } from './helpers.js';

const temp = tempDir();
const root = join(temp.dir, 'root');
const SECRET = 'TOP-SECRET';
let run: Running;

beforeAll(async () => {
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(temp.dir, 'outside'));
  writeFileSync(join(temp.dir, 'outside', 'secret.txt'), SECRET);
  writeFileSync(join(temp.dir, 'secret.txt'), SECRET);
  writeFileSync(join(root, 'a.txt'), 'aaa');
  writeFileSync(join(root, 'sub', 'b.txt'), 'bbb');
  writeFileSync(join(root, '.env'), SECRET);
  mkdirSync(join(root, '.git'));
  writeFileSync(join(root, '.git', 'config'), SECRET);
  symlinkSync(join(temp.dir, 'outside'), join(root, 'link-out'));
  symlinkSync(join(temp.dir, 'outside', 'secret.txt'), join(root, 'file-out'));
  symlinkSync('../../outside/secret.txt', join(root, 'sub', 'relative-out'));
  symlinkSync('sub', join(root, 'link-in'));
  symlinkSync('nowhere', join(root, 'broken'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  mkdirSync(join(root, 'linked-index'));
  symlinkSync(join(temp.dir, 'outside', 'secret.txt'), join(root, 'linked-index', 'index.html'));
  run = await start({ directory: root });
});

afterAll(async () => {
  await run.stop();
  temp.cleanup();
});

async function get(target: string, port = run.port): Promise<{ status: number; text: string }> {
  const reply = await raw(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  return { status: statusOf(reply), text: reply.toString('latin1') };
}

describe('traversal', () => {
  it.each([
    '/../secret.txt',
    '/../outside/secret.txt',
    '/sub/../../secret.txt',
    '/./a.txt',
    '/%2e%2e/secret.txt',
    '/%2E%2E/outside/secret.txt',
    '/.%2e/secret.txt',
    '/%2e./secret.txt',
    '/..%2fsecret.txt',
    '/..%2Foutside%2Fsecret.txt',
    '/sub%2f..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    '/..\\secret.txt',
    '/sub\\..\\..\\secret.txt',
    '/a.txt%00.png',
    '/a.txt%00',
    '/%zz',
    '/%4',
    '/a%',
    '/%c0%ae%c0%ae/secret.txt',
    '/%c0%2e%c0%2e/secret.txt',
    '/%e0%80%ae%e0%80%ae/secret.txt',
    '/%f0%80%80%ae/secret.txt',
    '/%0a%0d/a.txt',
    '/a.txt#frag',
    'http://x/../secret.txt',
    'http://x/%2e%2e/secret.txt',
    'file:///etc/passwd',
    '*',
    'a.txt',
    'x:/a.txt',
  ])('%s is refused with 400, nothing leaks', async (target) => {
    const { status, text } = await get(target);
    expect(status).toBe(400);
    expect(text).not.toContain(SECRET);
  });

  it('absolute-form targets are served by their path only', async () => {
    expect((await get('http://other.example/a.txt')).status).toBe(200);
    expect((await get('HTTP://other.example/sub/b.txt')).text.endsWith('bbb')).toBe(true);
    expect((await get('http://other.example')).status).toBe(200);
  });

  it('raw non-ASCII bytes in the target are taken as bytes, not as separators', async () => {
    const reply = await raw(
      run.port,
      Buffer.from(
        'GET /\xc0\xaf..\xc0\xafsecret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        'latin1',
      ),
    );
    expect(statusOf(reply)).toBe(400);
    const plain = await raw(
      run.port,
      Buffer.from('GET /\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 'latin1'),
    );
    expect(statusOf(plain)).toBe(404);
  });
});

describe('symbolic links', () => {
  it('links that lead outside the root are refused and not listed', async () => {
    expect((await get('/file-out')).status).toBe(404);
    expect((await get('/link-out/secret.txt')).status).toBe(404);
    expect((await get('/link-out/')).status).toBe(404);
    expect((await get('/sub/relative-out')).status).toBe(404);
    const listing = (await get('/')).text;
    expect(listing).not.toContain('link-out');
    expect(listing).not.toContain('file-out');
    expect(listing).not.toContain('broken');
    expect((await get('/sub/')).text).not.toContain('relative-out');
  });

  it('an index.html that links outside is not served: the listing is', async () => {
    const { status, text } = await get('/linked-index/');
    expect(status).toBe(200);
    expect(text).toContain('Directory listing for /linked-index/');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('index.html');
  });

  it('links inside the root work and are shown', async () => {
    expect((await get('/link-in/b.txt')).text.endsWith('bbb')).toBe(true);
    expect((await get('/')).text).toContain('href="link-in/"');
  });

  it('followSymlinks: true serves links that lead outside', async () => {
    const follow = await start({ directory: root, followSymlinks: true });
    try {
      expect((await get('/file-out', follow.port)).text.endsWith(SECRET)).toBe(true);
      expect((await get('/link-out/secret.txt', follow.port)).status).toBe(200);
      expect((await get('/', follow.port)).text).toContain('file-out@');
      // Traversal stays refused.
      expect((await get('/../secret.txt', follow.port)).status).toBe(400);
    } finally {
      await follow.stop();
    }
  });
});

describe('without /proc (realpath, then an O_NOFOLLOW open)', () => {
  afterAll(() => useProcFdForTesting(undefined));

  it('refuses links that lead outside and serves the rest', async () => {
    useProcFdForTesting(false);
    expect((await get('/file-out')).status).toBe(404);
    expect((await get('/link-out/secret.txt')).status).toBe(404);
    expect((await get('/sub/relative-out')).status).toBe(404);
    expect((await get('/linked-index/')).text).not.toContain(SECRET);
    expect((await get('/link-in/b.txt')).text.endsWith('bbb')).toBe(true);
    expect((await get('/a.txt')).text.endsWith('aaa')).toBe(true);
    expect((await get('/fifo')).status).toBe(404);
  });
});

describe('dotfiles', () => {
  it('ignore (default): 404 and not listed, in any encoding', async () => {
    for (const target of ['/.env', '/%2eenv', '/.git/config', '/.git/', '/.git']) {
      const { status, text } = await get(target);
      expect(status, target).toBe(404);
      expect(text).not.toContain(SECRET);
    }
    const listing = (await get('/')).text;
    expect(listing).not.toContain('.env');
    expect(listing).not.toContain('.git');
  });

  it('deny: 403 and not listed', async () => {
    const deny = await start({ directory: root, dotfiles: 'deny' });
    try {
      expect((await get('/.env', deny.port)).status).toBe(403);
      expect((await get('/.git/config', deny.port)).status).toBe(403);
      expect((await get('/', deny.port)).text).not.toContain('.env');
    } finally {
      await deny.stop();
    }
  });

  it('allow: served and listed', async () => {
    const allow = await start({ directory: root, dotfiles: 'allow' });
    try {
      expect((await get('/.env', allow.port)).text.endsWith(SECRET)).toBe(true);
      expect((await get('/', allow.port)).text).toContain('href=".env"');
    } finally {
      await allow.stop();
    }
  });
});

describe('special files', () => {
  it('a FIFO is neither opened for long nor served', async () => {
    expect((await get('/fifo')).status).toBe(404);
    expect((await get('/')).text).not.toContain('fifo');
    expect((await get('/a.txt')).status).toBe(200);
  });
});

/**
 * End to end in headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against the command: open the root listing, click into a
 * folder, download a file, check its bytes; a missing page is styled.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../packages/http/test/helpers.js';
import { type Cli, startCli, stopAllClis } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const temp = tempDir();
const served = join(temp.dir, 'served');
const PAYLOAD = Buffer.alloc(300_000);
for (let i = 0; i < PAYLOAD.length; i++) PAYLOAD[i] = (i * 13 + 7) & 0xff;
let cli: Cli;
let base: string;
let context: BrowserContext;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: run .ci/setup.d/http-file-server.sh (apt-get install chromium)`,
    );
  }
  mkdirSync(join(served, 'my folder #1'), { recursive: true });
  writeFileSync(join(served, 'readme.txt'), 'hi');
  writeFileSync(join(served, 'my folder #1', 'données ?.bin'), PAYLOAD);
  cli = await startCli(served, ['0', '-b', '127.0.0.1', '--quiet']);
  base = `http://127.0.0.1:${cli.port}`;
  const profile = mkdtempSync(join(temp.dir, 'profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  stopAllClis();
  temp.cleanup();
});

describe('in Chromium', () => {
  it('opens the listing, clicks into a folder, downloads a file with the right bytes', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/`);
    expect(await page.title()).toBe('Directory listing for /');
    await page.getByRole('link', { name: 'my folder #1/' }).click();
    await page.waitForURL(`${base}/my%20folder%20%231/`);
    expect(await page.locator('h1').textContent()).toBe('Directory listing for /my folder #1/');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'données ?.bin' }).click(),
    ]);
    const saved = join(temp.dir, 'download.bin');
    await download.saveAs(saved);
    expect(download.url()).toBe(`${base}/my%20folder%20%231/donn%C3%A9es%20%3F.bin`);
    expect(readFileSync(saved).equals(PAYLOAD)).toBe(true);
    await page.close();
  }, 60_000);

  it("a missing page has the listing's font, not the browser's default serif (hole 8)", async () => {
    const page = await context.newPage();
    const fontOf = async () =>
      String(await page.evaluate('getComputedStyle(document.body).fontFamily'));
    await page.goto(`${base}/`);
    const listingFont = await fontOf();
    const response = await page.goto(`${base}/no-such-page`);
    expect(response?.status()).toBe(404);
    expect(await page.locator('h1').textContent()).toBe('Error response');
    expect(await fontOf()).toBe(listingFont);
    expect(listingFont).toContain('system-ui');
    await page.close();
  }, 60_000);
});

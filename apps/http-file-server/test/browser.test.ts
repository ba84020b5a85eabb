/**
 * End to end in headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against the command: open the root listing, click into a
 * folder, download a file, check its bytes; a missing page is styled; the
 * listing's breadcrumbs, sorting, local times and dark mode, looked at as
 * a reader would (the page's structure and colours, and screenshots
 * compared by brightness, not pixel by pixel).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
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
  mkdirSync(join(served, 'sorting', 'deeper'), { recursive: true });
  for (const [name, size, mtime] of [
    ['big.txt', 5000, Date.UTC(2026, 0, 15, 12, 0) / 1000],
    ['Alpha.txt', 10, Date.UTC(2026, 6, 1, 23, 30) / 1000],
    ['mid.txt', 700, Date.UTC(2025, 5, 1, 8, 5) / 1000],
  ] as const) {
    writeFileSync(join(served, 'sorting', name), Buffer.alloc(size, 'x'));
    utimesSync(join(served, 'sorting', name), mtime, mtime);
  }
  // The server in New York, the reader in Tokyo: the page must show the reader's time.
  cli = await startCli(served, ['0', '-b', '127.0.0.1', '--quiet'], { TZ: 'America/New_York' });
  base = `http://127.0.0.1:${cli.port}`;
  const profile = mkdtempSync(join(temp.dir, 'profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    timezoneId: 'Asia/Tokyo',
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

  /** The names in the listing's rows, in order, without the parent link. */
  const rowNames = (page: import('playwright-core').Page) =>
    page.locator('tbody td:first-child a').allTextContents();

  it('sorts by a column when its heading is clicked, and back the other way', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/sorting/`);
    expect(await rowNames(page)).toEqual(['../', 'Alpha.txt', 'big.txt', 'deeper/', 'mid.txt']);
    await page.getByRole('link', { name: 'Size' }).click();
    await page.waitForURL(`${base}/sorting/?sort=size&order=asc`);
    expect(await rowNames(page)).toEqual(['../', 'deeper/', 'Alpha.txt', 'mid.txt', 'big.txt']);
    expect(await page.locator('th[aria-sort="ascending"]').textContent()).toBe('Size \u25b2');
    await page.getByRole('link', { name: 'Size \u25b2' }).click();
    await page.waitForURL(`${base}/sorting/?sort=size&order=desc`);
    expect(await rowNames(page)).toEqual(['../', 'big.txt', 'mid.txt', 'Alpha.txt', 'deeper/']);
    await page.getByRole('link', { name: 'Last modified' }).click();
    expect(await rowNames(page)).toEqual(['../', 'mid.txt', 'big.txt', 'Alpha.txt', 'deeper/']);
    await page.close();
  }, 60_000);

  it("walks up by the breadcrumbs, and shows times in the reader's zone, named", async () => {
    const page = await context.newPage();
    await page.goto(`${base}/sorting/deeper/`);
    const crumbs = page.locator('h1 .crumbs a');
    expect(await crumbs.allTextContents()).toEqual(['/', 'sorting', 'deeper']);
    expect(await page.locator('h1').textContent()).toBe('Directory listing for /sorting/deeper/');
    await crumbs.nth(1).click();
    await page.waitForURL(`${base}/sorting/`);
    // Served in New York's time; shown in Tokyo's by the page's few lines of script.
    const served = await (await fetch(`${base}/sorting/`)).text();
    expect(served).toContain('<span id="zone">America/New_York</span>');
    expect(served).toMatch(/>2026-07-01 19:30<\/time>/);
    expect(await page.locator('#zone').textContent()).toBe('Asia/Tokyo');
    const row = page.locator('tr', { hasText: 'Alpha.txt' });
    expect(await row.locator('time').textContent()).toBe('2026-07-02 08:30');
    expect(await row.locator('time').getAttribute('datetime')).toBe('2026-07-01T23:30:00.000Z');
    await page.close();
  }, 60_000);

  it("follows the reader's dark mode: dark page, light text, in colours and in a screenshot", async () => {
    const page = await context.newPage();
    /** The mean brightness (0 to 1) of a screenshot, decoded by the browser itself. */
    const brightness = async () => {
      const png = (await page.screenshot()).toString('base64');
      return Number(
        await page.evaluate(`(async () => {
          const image = new Image();
          image.src = 'data:image/png;base64,${png}';
          await image.decode();
          const canvas = new OffscreenCanvas(image.width, image.height);
          const context = canvas.getContext('2d');
          context.drawImage(image, 0, 0);
          const pixels = context.getImageData(0, 0, image.width, image.height).data;
          let sum = 0;
          for (let i = 0; i < pixels.length; i += 4) sum += pixels[i] + pixels[i + 1] + pixels[i + 2];
          return sum / (pixels.length / 4) / 765;
        })()`),
      );
    };
    const colours = () =>
      page.evaluate(
        '({ background: getComputedStyle(document.body).backgroundColor, text: getComputedStyle(document.body).color })',
      );
    for (const path of ['/sorting/', '/no-such-page']) {
      await page.emulateMedia({ colorScheme: 'light' });
      await page.goto(`${base}${path}`);
      expect(await colours()).toEqual({
        background: 'rgb(255, 255, 255)',
        text: 'rgb(26, 26, 26)',
      });
      const light = await brightness();
      await page.emulateMedia({ colorScheme: 'dark' });
      expect(await colours()).toEqual({
        background: 'rgb(22, 22, 22)',
        text: 'rgb(228, 228, 228)',
      });
      const dark = await brightness();
      expect([path, light > 0.8, dark < 0.2]).toEqual([path, true, true]);
      // The same structure in both: the heading and, for the listing, its table.
      expect(await page.locator('h1').count()).toBe(1);
    }
    await page.close();
  }, 60_000);
});

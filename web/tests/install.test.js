// The meeting page installs as a desktop app: its manifest and icons are
// served with their types, and Chromium reads the manifest without errors.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, startServer, withPages } from './harness.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** @param {Buffer} png */
function pngSize(png) {
  assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'a PNG');
  return `${png.readUInt32BE(16)}x${png.readUInt32BE(20)}`;
}

test('the web app manifest and its icons are served, linked, and read by Chromium without errors', async (t) => {
  const res = await fetch(server.url('/manifest.webmanifest'));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/manifest+json');
  const manifest = await res.json();
  assert.equal(manifest.start_url, '/');
  assert.equal(manifest.display, 'standalone');
  for (const icon of manifest.icons) {
    const png = await fetch(server.url(icon.src));
    assert.equal(png.headers.get('content-type'), 'image/png');
    assert.equal(pngSize(Buffer.from(await png.arrayBuffer())), icon.sizes);
  }
  const sizes = manifest.icons.map((/** @type {{sizes: string}} */ i) => i.sizes);
  assert.ok(sizes.includes('192x192') && sizes.includes('512x512'), 'Chromium wants 192 and 512');

  await withPages(browser, t, async (pages) => {
    const page = await pages.open('join', server.url('/'));
    await page.getByRole('button', { name: 'Join' }).waitFor();
    assert.equal(await page.locator('link[rel=manifest]').getAttribute('href'), '/manifest.webmanifest');
    const cdp = await page.context().newCDPSession(page);
    // The page's CSP lets the manifest load (manifest-src 'self').
    const read = await cdp.send('Page.getAppManifest', {});
    assert.deepEqual(read.errors, []);
    assert.ok(read.data && read.data.includes('"Conclave"'));
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    // A test's browser context is off the record, where Chromium installs
    // nothing; any other reason is a defect of the page.
    const errors = installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito');
    assert.deepEqual(errors, []);
  });
});

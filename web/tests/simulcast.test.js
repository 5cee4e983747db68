// Simulcast as a person meets it: a Chromium page publishes its camera in
// layers through the server (its 640 x 480 camera in two: 240 and 480
// lines); the page that watches it gets the layer that fits its tile. A
// large tile gets the whole picture, a tile made small gets the half-size
// layer (from a new keyframe of it), and made large again, the whole
// picture again.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { joinRoom, launchBrowser, lineWithSecurity, metric, startServer, tileVideo, withPages } from './harness.js';

// Two pages through the server (alone, two would meet peer to peer).
const shared = { server: /** @type {Awaited<ReturnType<typeof startServer>> | null} */ (null) };
const browsers = /** @type {import('playwright-core').Browser[]} */ ([]);
before(async () => {
  shared.server = await startServer(['peer_to_peer = false']);
  browsers.push(await launchBrowser());
});
after(async () => {
  for (const b of browsers) await b.close();
  await shared.server?.stop();
});

/**
 * Waits until the frames of `name`'s camera the page decodes are `height`
 * high, and keep coming.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {number} height
 * @param {string} what
 */
async function until(page, name, height, what) {
  const deadline = Date.now() + 30_000;
  let last = await tileVideo(page, name);
  for (;;) {
    await page.waitForTimeout(500);
    const now = await tileVideo(page, name);
    if (now.height === height && now.frames > last.frames) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(now)}`);
    last = now;
  }
}

/**
 * Makes `name`'s tile `px` CSS pixels high, or gives it back its size.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {number | null} px
 */
async function tileHeight(page, name, px) {
  await page.evaluate(
    ([who, h]) => {
      const tile = /** @type {HTMLElement} */ (
        [...document.querySelectorAll('.tile')].find((el) => el.querySelector('figcaption')?.textContent?.startsWith(String(who)))
      );
      tile.style.height = h === null ? '' : `${h}px`;
      tile.style.minHeight = h === null ? '' : '0';
    },
    [name, px],
  );
}

test('a tile gets the simulcast layer that fits it: the whole picture large, half of it small', async (t) => {
  const server = /** @type {Awaited<ReturnType<typeof startServer>>} */ (shared.server);
  await withPages(browsers[0], t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    // @ts-ignore: the page's diagnostics
    const sent = await chair.evaluate(() => window.conclave.sent());
    assert.deepEqual(
      sent.layers.map((/** @type {{rid: string}} */ l) => l.rid).sort(),
      ['f', 'h'],
      `the camera goes as two layers: ${JSON.stringify(sent)}`,
    );
    await until(bob, 'Chair', 480, "a large tile gets the chair's whole picture");
    await tileHeight(bob, 'Chair', 80);
    await until(bob, 'Chair', 240, 'a small tile gets the half-size layer');
    // /metrics counts it every 2 s among the subscriptions sent their
    // track's smallest layer.
    for (let waited = 0; (await metric(server.base, 'conclave_media_subscriptions{layer="smallest"}')) < 1; waited += 250) {
      assert.ok(waited < 5_000, 'a subscription sent the smallest layer on /metrics');
      await bob.waitForTimeout(250);
    }
    await tileHeight(bob, 'Chair', null);
    await until(bob, 'Chair', 480, 'large again, the whole picture again');
    // The moves are counted, and so are the pages' bandwidth estimates.
    assert.ok((await metric(server.base, 'conclave_media_quality{measure="layer_switches"}')) >= 2, 'layer switches on /metrics');
    // A client's first estimate comes a few seconds in.
    for (let waited = 0; (await metric(server.base, 'conclave_media_quality{measure="estimates"}')) === 0; waited += 250) {
      assert.ok(waited < 15_000, 'bandwidth estimates on /metrics');
      await bob.waitForTimeout(250);
    }
  });
});

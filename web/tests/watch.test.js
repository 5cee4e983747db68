// A video nobody sees is not sent: three Chromium pages meet through the
// server; one page hides another participant's tile, and the packets of
// that video stop arriving while the third participant's keep coming;
// shown again, it arrives and decodes again (it starts at a keyframe).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { joinRoom, launchBrowser, lineWithSecurity, startServer, tileVideo, withPages } from './harness.js';

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

/**
 * The packets and decoded frames of the video on `name`'s tile.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
async function received(page, name) {
  const { packets, frames } = await tileVideo(page, name);
  return { packets, frames };
}

/**
 * Hides or shows `name`'s tile on the page, as a layout or a scroll would.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {boolean} shown
 */
async function showTile(page, name, shown) {
  await page.evaluate(
    ([who, show]) => {
      const tile = /** @type {HTMLElement} */ (
        [...document.querySelectorAll('.tile')].find((el) => el.querySelector('figcaption')?.textContent?.startsWith(String(who)))
      );
      tile.style.display = show ? '' : 'none';
    },
    [name, shown],
  );
}

/**
 * Waits until `check` holds for what the page received of `name`.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {(now: {packets: number, frames: number}) => boolean} check
 * @param {string} what
 */
async function until(page, name, check, what) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const now = await received(page, name);
    if (check(now)) return now;
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(now)}`);
    await page.waitForTimeout(250);
  }
}

test("a hidden tile is sent no video; shown again, the video comes back and decodes", async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    const cy = await pages.open('cy', server.url('/'));
    await joinRoom(cy, { ...line, pin: '', name: 'Cy' });
    for (const name of ['Cy', 'Chair']) await until(bob, name, (n) => n.frames >= 20, `Bob decodes ${name}`);

    await showTile(bob, 'Cy', false);
    // What was on its way has arrived within a second.
    await bob.waitForTimeout(1000);
    const [cy0, chair0] = [await received(bob, 'Cy'), await received(bob, 'Chair')];
    await bob.waitForTimeout(2000);
    const [cy1, chair1] = [await received(bob, 'Cy'), await received(bob, 'Chair')];
    assert.ok(cy1.packets - cy0.packets <= 2, `Cy's hidden video still arrives: ${cy0.packets} then ${cy1.packets}`);
    assert.ok(chair1.packets - chair0.packets >= 20, `the chair's video keeps coming: ${chair0.packets} then ${chair1.packets}`);

    await showTile(bob, 'Cy', true);
    await until(bob, 'Cy', (n) => n.packets >= cy1.packets + 20 && n.frames >= cy1.frames + 20, "Cy's video shown again decodes");
  });
});

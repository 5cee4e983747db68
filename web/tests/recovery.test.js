// A media connection that fails comes back by itself: one page's network
// drops all its media (UDP, and TCP to the media ports) for longer than
// consent allows (30 s) while its WebSocket stays up, then lets it through
// again. The server replaces that participant's failed connections and
// tells its page (`media_reset`), which connects again: both pages decode
// each other's video once more, with nobody reloading anything.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinRoom, lineWithSecurity, tileVideo, withPages } from './harness.js';
import { Namespace, acrossTheLink } from './netns.js';

const room = acrossTheLink(() => new Namespace(4));

/**
 * Waits until `page` decodes more than ten new frames of `name`'s video
 * (a new connection counts its frames from 0).
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {number} ms
 * @param {string} what
 */
async function decodes(page, name, ms, what) {
  const start = (await tileVideo(page, name)).frames;
  for (let waited = 0; ; waited += 500) {
    const now = await tileVideo(page, name);
    // A new connection counts its frames from 0.
    if (now.frames > start + 10 || (now.frames < start && now.frames > 10)) return;
    assert.ok(waited < ms, `${what}: ${JSON.stringify(now)} (had ${start} frames)`);
    await page.waitForTimeout(500);
  }
}

test('a page cut off from media for 35 s connects again by itself once its network is back', async (t) => {
  const line = await lineWithSecurity(room.server.base);
  await withPages(room.browsers[0], t, async (hostPages) => {
    await withPages(room.browsers[1], t, async (cutPages) => {
      const chair = await hostPages.open('chair', room.server.base);
      await joinRoom(chair, { ...line, name: 'Chair' });
      const remy = await cutPages.open('remy', room.server.base);
      await joinRoom(remy, { ...line, pin: '', name: 'Remy' });
      await decodes(remy, 'Chair', 30_000, "Remy decodes the chair's video");
      await decodes(chair, 'Remy', 30_000, "the chair decodes Remy's video");

      // Media only: the WebSocket (the web server's port) still works,
      // so the room keeps Remy and nothing but media has to recover.
      room.ns.blockUdp(['46000-46999']);
      await remy.waitForTimeout(35_000);
      const during = await tileVideo(remy, 'Chair');
      await remy.waitForTimeout(2_000);
      assert.equal((await tileVideo(remy, 'Chair')).frames, during.frames, 'nothing reaches Remy while cut off');
      room.ns.unfilter();

      await decodes(remy, 'Chair', 60_000, "Remy decodes the chair's video again");
      await decodes(chair, 'Remy', 60_000, "the chair decodes Remy's video again");
      const connections = await remy.evaluate(() => /** @type {any} */ (window).conclave.connections());
      assert.equal(connections.subscribe?.[0], 'connected', JSON.stringify(connections));
      assert.equal(connections.publish?.[0], 'connected', JSON.stringify(connections));
    });
  });
});

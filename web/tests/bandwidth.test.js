// Bandwidth adaptation as a person on a slow link meets it: two pages send
// their cameras in simulcast layers (240 and 480 lines) and a third
// watches; its network is limited to 400 kbit/s (netns.js `limit`, an HTB
// class). Within 10 s it gets the small layer of the others' cameras and
// keeps decoding, while a page on a good link keeps the large one; the
// limit lifted, it climbs back to the large layer within 20 s. Needs root
// for the namespace, as the other network tests do.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinRoom, lineWithSecurity, metric, tileVideo, withPages } from './harness.js';
import { Namespace, acrossTheLink } from './netns.js';

const room = acrossTheLink(() => new Namespace(5));

/**
 * Waits until the page decodes every one of `names`' cameras at `height`
 * lines, and more frames keep coming; answers how long it took.
 * @param {import('playwright-core').Page} page
 * @param {string[]} names
 * @param {number} height
 * @param {number} within ms
 * @param {string} what
 */
async function reaches(page, names, height, within, what) {
  const start = Date.now();
  let last = await Promise.all(names.map((n) => tileVideo(page, n)));
  for (;;) {
    await page.waitForTimeout(500);
    const now = await Promise.all(names.map((n) => tileVideo(page, n)));
    if (now.every((v, i) => v.height === height && v.frames > last[i].frames)) return Date.now() - start;
    if (Date.now() - start > within) throw new Error(`${what} within ${within} ms: ${JSON.stringify(now)}`);
    last = now;
  }
}

/**
 * The longest time, in ms, over `ms` in which one of `names`' cameras
 * decoded no new frame on the page, sampled every 100 ms.
 * @param {import('playwright-core').Page} page
 * @param {string[]} names
 * @param {number} ms
 */
async function longestFreeze(page, names, ms) {
  let last = await Promise.all(names.map((n) => tileVideo(page, n)));
  const since = names.map(() => Date.now());
  let worst = 0;
  /** @type {string[]} what each camera showed, each 100 ms: its height, or "-" for no new frame */
  const trace = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await page.waitForTimeout(100);
    const now = await Promise.all(names.map((n) => tileVideo(page, n)));
    now.forEach((v, i) => {
      if (v.frames > last[i].frames) since[i] = Date.now();
      worst = Math.max(worst, Date.now() - since[i]);
    });
    trace.push(now.map((v, i) => (v.frames > last[i].frames ? v.height : '-')).join('/'));
    last = now;
  }
  return { worst, trace: trace.join(' ') };
}

test('a page behind a 400 kbit/s link gets the small layers and keeps decoding, then climbs back when the link frees', async (t) => {
  const line = await lineWithSecurity(room.server.base);
  await withPages(room.browsers[0], t, async (hostPages) => {
    await withPages(room.browsers[1], t, async (slowPages) => {
      const chair = await hostPages.open('chair', room.server.base);
      await joinRoom(chair, { ...line, name: 'Chair' });
      const bob = await hostPages.open('bob', room.server.base);
      await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
      const carol = await slowPages.open('carol', room.server.base);
      await joinRoom(carol, { ...line, pin: '', name: 'Carol' });
      // Carol only watches: three Chromiums on two cores encoding and
      // decoding her camera too slowed the others' to a few frames a second.
      await carol.getByRole('button', { name: 'Stop camera' }).click();
      await carol.getByRole('button', { name: 'Start camera' }).waitFor();
      const others = ['Chair', 'Bob'];
      await reaches(carol, others, 480, 30_000, 'on a good link Carol gets the large layers');

      room.ns.limit('400kbit');
      const down = await reaches(carol, others, 240, 10_000, 'behind 400 kbit/s Carol gets the small layers');
      const { worst: freeze, trace } = await longestFreeze(carol, others, 10_000);
      assert.ok(freeze <= 1_000, `Carol's video never froze over a second behind the limit: ${freeze} ms (${trace})`);
      assert.equal((await tileVideo(bob, 'Chair')).height, 480, 'Bob, on a good link, keeps the large layer');

      room.ns.limit(null);
      const up = await reaches(carol, others, 480, 20_000, 'the limit lifted, Carol climbs back to the large layers');
      const resent = await metric(room.server.base, 'conclave_media_packets{outcome="resent"}');
      const early = await metric(room.server.base, 'conclave_media_packets{outcome="resend_early"}');
      t.diagnostic(`down in ${down} ms, longest freeze ${freeze} ms, back up in ${up} ms; NACKed copies sent again ${resent}, not again within a round trip ${early}`);
    });
  });
});

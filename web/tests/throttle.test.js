// Too many wrong codes from one address: the page says to wait, and how
// long. A server of its own with a low limit, so the other files' pages
// (all from 127.0.0.1) are never held back.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, fillJoin, launchBrowser, lineWithSecurity, startServer, withPages } from './harness.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;

before(async () => {
  server = await startServer(['[join_throttle]', 'max_failures = 3', 'window_secs = 600']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('after three wrong codes the page says to wait, with the wait in seconds', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const page = await pages.open('guest', server.url('/'));
    const error = page.locator('#join_error');
    // Each attempt waits for the last one's answer: "Join" is disabled
    // while a join is under way.
    for (let i = 0; i < 3; i++) {
      await fillJoin(page, { ...line, securityCode: '0000', pin: '', name: 'Guest' });
      await error.getByText('The access code or the security code is wrong. (invalid_credentials)').waitFor();
    }
    // The right codes now: the address is held back, and the page says for how long.
    await fillJoin(page, { ...line, pin: '', name: 'Guest' });
    await error.getByText(/Too many failed attempts: try again in \d+ seconds\. \(throttled\)/).waitFor();
    const seconds = Number(/in (\d+) seconds/.exec(await error.innerText())?.[1]);
    assert.ok(seconds > 500 && seconds <= 600, `${seconds} s`);
    assert.equal(await page.locator('#room').isVisible(), false);
    await accessible(page, 'the join form saying to wait');
  });
});

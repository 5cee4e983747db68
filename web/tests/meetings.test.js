// The account's meetings over all its conferences, on the reports page, as
// the owner reads them from the keyboard: twenty-one meetings on the line
// (each a guest who joins and leaves, over the page's own WebSocket), the
// newest twenty first, "Older" to the last one and "Newer" back; a range
// that holds none says so; each meeting links to its conference's report.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, launchBrowser, signUpForLine, startServer, withPages } from './harness.js';

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

test('the owner pages through every meeting and narrows them by date', async (t) => {
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('owner', server.url('/account'));
    const code = await signUpForLine(page, 'Mo');
    const token = await page.evaluate(() => sessionStorage.getItem('conclave.account_token'));
    assert.ok(token);

    // Twenty-one meetings: a guest joins the empty line and leaves, and the
    // next waits until the server has ended that meeting.
    const count = async () => {
      const res = await fetch(server.url('/api/v1/reports/sessions?limit=100'), { headers: { Authorization: `Bearer ${token}` } });
      const body = await res.json();
      return body.sessions.filter((/** @type {any} */ s) => s.ended_at).length;
    };
    for (let n = 1; n <= 21; n++) {
      await page.evaluate(async (code) => {
        const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws`);
        const answer = (/** @type {string} */ id) =>
          new Promise((resolve) => ws.addEventListener('message', (e) => JSON.parse(e.data).id === id && resolve(null)));
        await new Promise((resolve) => ws.addEventListener('open', resolve));
        ws.send(JSON.stringify({ type: 'join', id: 'j', access_code: code, name: 'Guest' }));
        await answer('j');
        ws.send(JSON.stringify({ type: 'leave', id: 'l' }));
        await answer('l');
        ws.close();
      }, code);
      for (let i = 0; (await count()) < n; i++) {
        assert.ok(i < 100, `meeting ${n} never ended`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    await page.goto(server.url('/account#/reports'));
    const table = page.locator('#meetings');
    await table.locator('tbody tr').first().waitFor();
    assert.equal(await table.locator('tbody tr').count(), 20);
    assert.match(await table.locator('tbody tr').first().innerText(), /your line|Mo/);
    await accessible(page, 'the reports page with all meetings');

    // "Older", from the keyboard: the one left; "Newer" back to twenty.
    const older = page.getByRole('button', { name: 'Older' });
    const newer = page.getByRole('button', { name: 'Newer' });
    assert.ok(await newer.isDisabled());
    await older.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('#meetings tbody tr').length === 1);
    assert.ok(await older.isDisabled());
    await newer.focus();
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelectorAll('#meetings tbody tr').length === 20);

    // From tomorrow: none. Then everything again, from an empty range.
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    await page.getByLabel('From').fill(tomorrow);
    await page.getByLabel('From').press('Enter');
    await page.locator('#no_meetings').waitFor();
    await page.getByLabel('From').fill('');
    await page.getByRole('button', { name: 'Show' }).click();
    await table.locator('tbody tr').first().waitFor();

    // A meeting leads to its conference's report.
    await table.getByRole('link').first().click();
    await page.locator('#sessions_heading').waitFor();
    assert.match(await page.locator('h1').innerText(), /^Reports: /);
  });
});

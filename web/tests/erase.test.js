// Erasing a person from the reports page, as the owner does it from the
// keyboard: a guest named Ada Lovelace joins the owner's line and chats;
// after the meeting, "Erase Ada Lovelace…" asks first ("Keep" keeps her),
// "Erase" turns her row into "Erased participant" and takes her words out
// of the chat; the erased row offers no second erase; and while a meeting
// is on, the server's refusal shows on the page, which stays.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, fillJoin, joinRoom, launchBrowser, signUpForLine, startServer, withPages } from './harness.js';

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
 * @param {string} token
 * @param {string} path
 */
async function get(token, path) {
  const res = await fetch(server.url(`/api/v1${path}`), { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, path);
  return res.json();
}

/** @param {import('playwright-core').Page} page */
const focused = (page) => page.evaluate(() => document.activeElement?.textContent?.trim() || '');

/**
 * Waits until the focus is on the button that reads `text`.
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
const focusOn = (page, text) =>
  page.waitForFunction((t) => document.activeElement?.textContent?.trim() === t, text, { timeout: 5_000 });

test('the owner erases a web guest from a finished session, from the keyboard', async (t) => {
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('owner', server.url('/account'));
    const code = await signUpForLine(page, 'Dee');
    await page.getByRole('button', { name: 'Join as the host' }).click();
    await page.locator('#room').waitFor({ state: 'visible' });

    const guest = await pages.open('guest', server.url('/'));
    await fillJoin(guest, { code, name: 'Ada Lovelace' });
    await guest.locator('#room').waitFor({ state: 'visible' });
    await guest.getByLabel('Message').fill('the analytical engine weaves');
    await guest.getByRole('button', { name: 'Send' }).click();
    await page.locator('#chat li', { hasText: 'the analytical engine weaves' }).waitFor();
    await page.getByLabel('Message').fill('welcome, Ada');
    await page.getByRole('button', { name: 'Send' }).click();
    await guest.locator('#chat li', { hasText: 'welcome, Ada' }).waitFor();
    await guest.getByRole('button', { name: 'Leave' }).click();
    await page.getByRole('button', { name: 'Leave' }).click();

    await page.goto(server.url('/account#/reports'));
    const token = await page.evaluate(() => sessionStorage.getItem('conclave.account_token'));
    assert.ok(token);
    const line = await get(token, '/account/line');
    // The session ends when the room empties; its writes are asynchronous.
    for (let i = 0; ; i++) {
      const sessions = await get(token, `/conferences/${line.id}/sessions`);
      if (sessions.length === 1 && sessions[0].ended_at) break;
      assert.ok(i < 100, 'the session never ended');
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.getByRole('link', { name: /your line/ }).click();
    const table = page.locator('table.attendance');
    await table.locator('tbody tr', { hasText: 'Ada Lovelace' }).waitFor();
    await page.locator('#chat_log', { hasText: 'the analytical engine weaves' }).waitFor();
    await accessible(page, 'the reports page with erase buttons');

    // "Erase…" asks first, the focus on "Keep"; "Keep" gives it back.
    const erase = page.getByRole('button', { name: 'Erase Ada Lovelace…' });
    await erase.focus();
    await page.keyboard.press('Enter');
    const question = page.getByRole('group', { name: /^Erase Ada Lovelace\?/ });
    await question.waitFor();
    assert.match(
      await question.innerText(),
      /Their name, phone number and chat messages are removed from every summary of this conference; their times stay\./,
    );
    await focusOn(page, 'Keep');
    assert.equal(await erase.getAttribute('aria-expanded'), 'true');
    await accessible(page, 'the reports page asking to erase');
    await page.keyboard.press('Enter');
    await question.waitFor({ state: 'detached' });
    assert.ok(await erase.evaluate((el) => el === document.activeElement), 'the focus is back on "Erase…"');
    assert.equal((await get(token, `/conferences/${line.id}/sessions`))[0].attendance.length, 2);

    // Again, and this time "Erase", reached with Shift+Tab.
    await page.keyboard.press('Enter');
    await focusOn(page, 'Keep');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), 'Erase');
    await page.keyboard.press('Enter');
    const status = page.locator('section.session p[role=status]');
    await status.filter({ hasText: 'Erased:' }).waitFor();
    assert.equal((await status.innerText()).trim(), 'Erased: 1 attendance row and 1 chat message.');
    // The row's button is gone: the focus waits on the news.
    await page.waitForFunction(() => document.activeElement?.getAttribute('role') === 'status', null, { timeout: 5_000 });

    const erasedRow = table.locator('tbody tr', { hasText: 'Erased participant' });
    await erasedRow.waitFor();
    assert.equal(await table.locator('tbody tr', { hasText: 'Ada Lovelace' }).count(), 0);
    assert.equal(await table.locator('tbody tr').count(), 2, 'the row keeps its place');
    // Her words are gone from the chat; the owner's stay.
    const chat = page.locator('#chat_log');
    await chat.locator('li', { hasText: 'Erased participant' }).waitFor();
    assert.ok(!(await chat.innerText()).includes('the analytical engine weaves'));
    await chat.locator('li', { hasText: 'welcome, Ada' }).waitFor();
    // No second erase for the erased row; the owner's row still offers one.
    assert.equal(await erasedRow.getByRole('button').count(), 0);
    assert.equal(await page.getByRole('button', { name: /^Erase Erased participant/ }).count(), 0);
    await page.getByRole('button', { name: 'Erase Dee…' }).waitFor();
    await accessible(page, 'the reports page after an erasure');
    const [session] = await get(token, `/conferences/${line.id}/sessions`);
    assert.deepEqual(
      session.attendance.map((/** @type {any} */ a) => a.name).sort(),
      ['Dee', 'Erased participant'],
    );

    // While a meeting is on in the conference, the server refuses: its
    // words show, and the page and its rows stay.
    const late = await pages.open('late', server.url('/'));
    await joinRoom(late, { code, name: 'Late' });
    await page.getByRole('button', { name: 'Erase Dee…' }).click();
    await page.getByRole('button', { name: 'Erase', exact: true }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Dee was not erased' });
    await alert.waitFor();
    assert.match(await alert.innerText(), /meeting is in progress/);
    assert.equal(pages.forgive(/status of 409/), 1, 'the refusal is the one console error');
    await table.locator('tbody th', { hasText: 'Dee' }).waitFor();
    assert.equal((await status.innerText()).trim(), '', 'the old news is cleared');
    await accessible(page, 'the reports page after a refusal');
    await late.getByRole('button', { name: 'Leave' }).click();
  });
});

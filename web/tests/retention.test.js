// Data retention as the owner sets it, from the security page, with the
// keyboard: the days are saved and said back, survive a reload, and
// emptied keep everything again; the server holds what the page shows.

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

/**
 * What the server holds for the signed-in account.
 * @param {string} token
 */
async function saved(token) {
  const res = await fetch(server.url('/api/v1/account/retention'), { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  return res.json();
}

test('the owner sets how long summaries and chat are kept, from the keyboard, and can keep everything again', async (t) => {
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('owner', server.url('/account'));
    await signUpForLine(page, 'Rita');
    const token = await page.evaluate(() => sessionStorage.getItem('conclave.account_token'));
    assert.ok(token);
    await page.getByRole('link', { name: 'Security' }).click();
    const card = page.getByRole('region', { name: 'Data retention' });
    await card.waitFor();
    assert.match(await card.locator('#retention_rule').innerText(), /deleted for good/);
    const summaries = card.getByLabel('Keep meeting summaries for (days)');
    const chat = card.getByLabel('Keep chat for (days)');
    await summaries.waitFor();
    await page.waitForFunction(() => !document.querySelector('#retention_summary_days')?.hasAttribute('disabled'));
    assert.equal(await summaries.inputValue(), '', 'nothing is deleted by default');
    assert.equal(await chat.inputValue(), '');
    await accessible(page, 'the security page with its retention section');

    // Typed and submitted from the keyboard.
    await summaries.focus();
    await page.keyboard.type('30');
    await page.keyboard.press('Tab');
    assert.ok(await chat.evaluate((el) => el === document.activeElement), 'Tab goes to the chat field');
    await page.keyboard.type('10');
    await page.keyboard.press('Enter');
    const status = card.locator('#retention_state');
    await status.getByText('Retention is saved. Summaries are kept 30 days; chat 10 days.').waitFor();
    assert.equal(await status.getAttribute('role'), 'status');
    assert.deepEqual(await saved(token), { summary_days: 30, chat_days: 10 });

    // Out of range: the page does not send it, the server keeps 30/10.
    await summaries.fill('0');
    await summaries.press('Enter');
    assert.equal(await summaries.evaluate((el) => /** @type {HTMLInputElement} */ (el).validity.valid), false);
    assert.deepEqual(await saved(token), { summary_days: 30, chat_days: 10 });

    // What the server holds is what a reload shows.
    await page.reload();
    await page.getByRole('link', { name: 'Security' }).click();
    await page.waitForFunction(
      () => /** @type {HTMLInputElement | null} */ (document.querySelector('#retention_summary_days'))?.value === '30',
    );
    assert.equal(await summaries.inputValue(), '30');
    assert.equal(await chat.inputValue(), '10');

    // Emptied: everything is kept again.
    await summaries.fill('');
    await chat.fill('');
    await card.getByRole('button', { name: 'Save retention' }).press('Enter');
    await status.getByText('Retention is saved. Summaries are kept until you delete them; chat is kept with them.').waitFor();
    assert.deepEqual(await saved(token), { summary_days: null, chat_days: null });
  });
});

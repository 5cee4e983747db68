// Data retention as the owner sets it, from the security page, with the
// keyboard: the days are saved and said back, survive a reload, and
// emptied keep everything again; the server holds what the page shows. A
// member of an organisation reads what its admins set, and has no form.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, launchBrowser, lineWithSecurity, signUpForLine, startServer, withPages } from './harness.js';

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
  const res = await fetch(server.url('/api/v1/organisation/retention'), { headers: { Authorization: `Bearer ${token}` } });
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

/**
 * An API call as `token`; answers the status and the body.
 * @param {string} method
 * @param {string} path
 * @param {string} token
 * @param {unknown} [json]
 */
async function call(method, path, token, json) {
  const res = await fetch(server.url(`/api/v1${path}`), {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(json ? { 'Content-Type': 'application/json' } : {}) },
    body: json ? JSON.stringify(json) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

test("a member reads the retention its organisation's admins set, and cannot change it", async (t) => {
  await withPages(browser, t, async (pages) => {
    const admin = await lineWithSecurity(server.url(''));
    assert.equal((await call('PUT', '/organisation', admin.token, { name: 'Acme <i>Ltd</i>' })).status, 204);
    assert.equal((await call('PUT', '/organisation/retention', admin.token, { summary_days: 30, chat_days: null })).status, 200);

    const page = await pages.open('member', server.url('/account'));
    await signUpForLine(page, 'Milo');
    const token = /** @type {string} */ (await page.evaluate(() => sessionStorage.getItem('conclave.account_token')));
    const me = await call('GET', '/account', token);
    const invited = await call('POST', '/organisation/invitations', admin.token, { email: me.body.email });
    assert.equal(invited.status, 201);
    assert.equal((await call('POST', `/account/invitations/${invited.body.id}/accept`, token)).status, 204);

    await page.reload();
    await page.getByRole('link', { name: 'Security' }).click();
    const card = page.getByRole('region', { name: 'Data retention' });
    const rule = card.locator('#retention_rule');
    await rule.getByText('The admins of Acme <i>Ltd</i> decide').waitFor();
    assert.equal(await card.locator('i').count(), 0, 'the name is text, not markup');
    const set = card.locator('#retention_set');
    assert.match(await set.innerText(), /Meeting summaries\s+kept 30 days\s+Chat\s+kept with its summary/);
    assert.equal(await card.getByRole('button').count(), 0, 'a member has no form');
    assert.equal(await card.getByRole('spinbutton').count(), 0);
    await accessible(page, "the security page of an organisation's member");
    // The server refuses the member as it would refuse something missing.
    assert.equal((await call('PUT', '/organisation/retention', token, { summary_days: 1, chat_days: 1 })).status, 404);
    assert.deepEqual(await saved(token), { summary_days: 30, chat_days: null });
  });
});

// Deleting an account as its owner does it, from the security page: a
// wrong password is refused in words and changes nothing; the right one,
// from the keyboard, deletes it: the page is signed out and says so, the
// old token is refused, and the e-mail address can sign up again.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { accessible, launchBrowser, startServer, withPages } from './harness.js';

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

const PASSWORD = 'correct horse battery';

/**
 * The status of `GET /api/v1/account` with `token`.
 * @param {string} token
 */
async function accountStatus(token) {
  return (await fetch(server.url('/api/v1/account'), { headers: { Authorization: `Bearer ${token}` } })).status;
}

/**
 * Fills the page's sign-up form and waits for the line.
 * @param {import('playwright-core').Page} page
 * @param {string} email
 * @returns {Promise<number>} the status the server answered the sign-up
 */
async function signUp(page, email) {
  const form = page.locator('#sign_up');
  await form.getByLabel('Your name').fill('Dora');
  await form.getByLabel('E-mail').fill(email);
  await form.getByLabel('Password').fill(PASSWORD);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/v1/accounts') && r.request().method() === 'POST');
  await form.getByRole('button', { name: 'Create the account' }).click();
  const status = (await answer).status();
  await page.locator('#line_access_code').waitFor();
  return status;
}

test('the owner deletes the account: a wrong password changes nothing, the right one signs out for good', async (t) => {
  await withPages(browser, t, async (pages) => {
    // The wrong password's 401: Chromium logs every refused request.
    pages.expectConsoleError(/status of 401/);
    const email = `dora-${crypto.randomUUID()}@example.org`;
    const page = await pages.open('owner', server.url('/account'));
    assert.equal(await signUp(page, email), 201);
    const token = await page.evaluate(() => sessionStorage.getItem('conclave.account_token'));
    assert.ok(token, 'signed in');

    // The security page ends with what deleting takes, in plain words.
    await page.getByRole('link', { name: 'Security' }).click();
    const card = page.getByRole('region', { name: 'Delete your account' });
    await card.waitFor();
    const rule = await card.locator('#delete_rule').innerText();
    for (const what of [
      /line and your scheduled conferences/,
      /meeting history/,
      /chat/,
      /recordings/,
      /documents/,
      /contacts/,
      /API keys/,
      /webhook endpoints/,
      /Meetings under way .* are ended/,
      /cannot be undone/,
    ]) {
      assert.match(rule, what);
    }
    assert.equal(await page.getByLabel('Your password', { exact: true }).count(), 0, 'no password field before the confirmation step');
    await accessible(page, 'the security page with its delete section');

    // Opened and kept: the focus goes to the password, then back.
    const opener = page.getByRole('button', { name: 'Delete your account…' });
    await opener.click();
    const password = page.getByLabel('Your password', { exact: true });
    await password.waitFor();
    assert.equal(await password.getAttribute('type'), 'password');
    assert.ok(await password.evaluate((el) => el === document.activeElement), 'the password field has the focus');
    await accessible(page, 'the security page, confirming the deletion');
    await page.getByRole('button', { name: 'Keep my account' }).click();
    await password.waitFor({ state: 'detached' });
    assert.ok(await opener.evaluate((el) => el === document.activeElement), 'the focus is back on the button');

    // From the keyboard, a wrong password: refused in the server's words,
    // the form stays, the page stays signed in, the account still works.
    await opener.focus();
    await page.keyboard.press('Enter');
    await password.waitFor();
    await page.keyboard.type('not my password');
    await page.keyboard.press('Enter');
    const alert = page.locator('#delete_error');
    await alert.getByText('The account was not deleted: wrong e-mail or password').waitFor();
    assert.equal(await alert.getAttribute('role'), 'alert');
    assert.equal(await password.getAttribute('aria-invalid'), 'true');
    assert.ok(await password.evaluate((el) => el === document.activeElement), 'the focus is back in the password field');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('conclave.account_token')), token, 'still signed in');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.equal(await accountStatus(token), 200, 'the account still works');
    await accessible(page, 'the security page, a wrong password');

    // The right password, typed over the selected wrong one, and Enter.
    await page.keyboard.type(PASSWORD);
    assert.equal(await password.inputValue(), PASSWORD);
    await page.keyboard.press('Enter');
    const farewell = page.locator('#account_farewell');
    await farewell.getByText('Your account was deleted.').waitFor();
    assert.equal(await farewell.getAttribute('role'), 'status');
    assert.ok(await farewell.evaluate((el) => el === document.activeElement), 'the message has the focus');
    await page.locator('#sign_in').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Sign out' }).count(), 0);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('conclave.account_token')), null, 'the token is dropped');
    await accessible(page, 'the sign-in page after the deletion');

    // The old token is refused; the e-mail address signs up again.
    assert.equal(await accountStatus(token), 401, 'the old token is refused');
    assert.equal(await signUp(page, email), 201, 'the same e-mail signs up again');
    assert.equal(await farewell.count(), 0, 'the message is gone once signed in again');
    const again = await page.evaluate(() => sessionStorage.getItem('conclave.account_token'));
    assert.ok(again && again !== token);
    assert.equal(await accountStatus(again), 200);
  });
});

test('the owner downloads all their data from the security page, from the keyboard', async (t) => {
  await withPages(browser, t, async (pages) => {
    const email = `erin-${crypto.randomUUID()}@example.org`;
    const page = await pages.open('owner', server.url('/account'));
    assert.equal(await signUp(page, email), 201);
    await page.getByRole('link', { name: 'Security' }).click();
    const card = page.getByRole('region', { name: 'Your data' });
    await card.waitFor();
    assert.match(await card.locator('#export_rule').innerText(), /attendance .* chat, and your recordings/);
    const button = card.getByRole('button', { name: 'Download all your data' });
    await button.focus();
    const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
    assert.match(download.suggestedFilename(), /^conclave-export-\d{4}-\d{2}-\d{2}\.tar$/);
    const archive = readFileSync(/** @type {string} */ (await download.path()));
    const text = archive.toString('latin1');
    for (const entry of ['conclave-export/account.json', 'conclave-export/conferences.json', 'conclave-export/manifest.json']) {
      assert.ok(text.includes(entry), `${entry} is in the archive`);
    }
    assert.ok(text.includes(email), 'the account itself is in it');
    await card.locator('#export_state').getByText('Your archive is downloaded.').waitFor();
    await accessible(page, 'the security page after the export');
  });
});

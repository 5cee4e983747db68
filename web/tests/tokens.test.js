// API keys and join links as people use them: the owner creates a key on
// the account pages (shown once) and revokes it; an application's user
// follows a join link (`/#join_token=…`) into the room. A server of its own.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, launchBrowser, lineWithSecurity, startServer, withPages } from './harness.js';

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
 * What the application does on its server: mints a token with its key.
 * @param {string} key
 * @param {string} conference
 * @param {string} name
 */
async function mint(key, conference, name) {
  const res = await fetch(server.url('/api/v1/join-tokens'), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
    body: JSON.stringify({ conference, name, identity: `portal-${name}` }),
  });
  return { status: res.status, body: await res.json() };
}

test('the owner creates an API key, a user follows a join link into the room, the owner revokes the key', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const lineInfo = await (await fetch(server.url('/api/v1/account/line'), { headers: { Authorization: `Bearer ${line.token}` } })).json();
    const owner = await pages.open('owner', server.url('/account'));
    await owner.evaluate((token) => sessionStorage.setItem('conclave.account_token', token), line.token);
    await owner.goto(server.url('/account#/keys'));
    await owner.reload();
    await owner.getByRole('link', { name: 'API keys' }).waitFor();
    await owner.locator('#no_keys').waitFor();
    await accessible(owner, 'the API keys page, empty');

    await owner.getByLabel('What the key is for').fill('<i>Portal</i>');
    await owner.getByRole('button', { name: 'Create a key' }).click();
    const shown = owner.locator('#new_key_value');
    await shown.waitFor();
    const key = (await shown.innerText()).trim();
    assert.match(key, /^ck_[A-Za-z0-9_-]{40,}$/);
    assert.equal(await owner.locator('#new_key i').count(), 0, 'the name stays text');
    await accessible(owner, 'the API keys page, a key shown once');
    await owner.getByRole('button', { name: 'Done' }).click();
    await shown.waitFor({ state: 'detached' });
    await owner.locator('#keys tbody tr', { hasText: '<i>Portal</i>' }).getByText('Active').waitFor();

    // The application mints; its user follows the link.
    const minted = await mint(key, lineInfo.id, 'Ada Student');
    assert.equal(minted.status, 201, JSON.stringify(minted.body));
    const chair = await pages.open('chair', server.url('/'));
    await chair.getByLabel('Access code').fill(line.code);
    await chair.getByLabel('Security code').fill(line.securityCode);
    await chair.getByLabel('Moderator PIN').fill(line.pin);
    await chair.getByLabel('Your name').fill('Chair');
    await chair.getByRole('button', { name: 'Join' }).click();
    await chair.locator('#room').waitFor({ state: 'visible' });
    const user = await pages.open('user', server.url(`/#join_token=${minted.body.token}`));
    await user.locator('#room').waitFor({ state: 'visible' });
    await user.locator('#participants li', { hasText: 'Ada Student (you)' }).waitFor();
    assert.equal(await user.evaluate(() => location.hash), '', 'the token leaves the address bar');
    await chair.locator('#participants li', { hasText: 'Ada Student' }).waitFor();

    // Revoked from the page: the application mints nothing more, and a
    // link minted before is refused in words.
    const later = await mint(key, lineInfo.id, 'Bea Student');
    assert.equal(later.status, 201);
    await owner.getByRole('button', { name: 'Revoke <i>Portal</i>' }).click();
    await accessible(owner, 'the API keys page, revoking');
    await owner.getByRole('button', { name: 'Revoke the key' }).click();
    await owner.locator('#keys tbody tr', { hasText: '<i>Portal</i>' }).getByText(/^Revoked/).waitFor();
    assert.equal((await mint(key, lineInfo.id, 'Cy Student')).status, 401);
    const refused = await pages.open('refused', server.url(`/#join_token=${later.body.token}`));
    await refused.locator('#join_error').getByText('This join link is not valid').waitFor();
    assert.equal(await refused.locator('#room').isVisible(), false);
  });
});

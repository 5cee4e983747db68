// Webhook endpoints as an account owner uses them: add one on the account
// pages (its secret shows once), see a conference's events arrive signed
// at a receiver, read the deliveries, retry a failed one, delete the
// endpoints. A server of its own, allowed to send to a loopback http URL.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { accessible, joinRoom, launchBrowser, lineWithSecurity, startServer, withPages } from './harness.js';

/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('node:http').Server} */
let receiver;
/** @type {{path: string, headers: import('node:http').IncomingHttpHeaders, body: string}[]} */
const received = [];
/** While true, the receiver answers 500 on `/flaky`. */
let flaky = true;

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ path: req.url || '', headers: req.headers, body });
      res.statusCode = req.url === '/flaky' && flaky ? 500 : 204;
      res.end();
    });
  });
  await new Promise((ok) => receiver.listen(0, '127.0.0.1', () => ok(null)));
  server = await startServer([
    '[webhooks]',
    'enabled = true',
    'allow_http = true',
    'allow_private_addresses = true',
    'poll_ms = 100',
    'first_retry_ms = 100',
    'max_attempts = 2',
  ]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((ok) => (receiver ? receiver.close(() => ok(null)) : ok(null)));
});

/** @param {string} path */
const receiverUrl = (path) => `http://127.0.0.1:${/** @type {import('node:net').AddressInfo} */ (receiver.address()).port}${path}`;

/**
 * Polls `check` until it answers something truthy.
 * @template T
 * @param {() => Promise<T> | T} check
 * @param {string} what
 * @returns {Promise<T>}
 */
async function until(check, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Presses "Refresh" until the deliveries table has a row of `type` in `state`.
 * @param {import('playwright-core').Page} page
 * @param {string} type
 * @param {string} state
 */
async function deliveryIs(page, type, state) {
  const row = page.locator('#delivery_rows tbody tr', { has: page.getByRole('rowheader', { name: type, exact: true }) });
  await until(async () => {
    if ((await row.locator('td', { hasText: new RegExp(`^${state}$`) }).count()) > 0) return true;
    await page.getByRole('button', { name: 'Refresh' }).click();
    return false;
  }, `a ${type} delivery ${state}`);
  return row;
}

test('the owner adds webhook endpoints, events arrive signed, deliveries show and retry, the endpoints go', async (t) => {
  await withPages(browser, t, async (pages) => {
    // The refused URL's 422: Chromium logs every refused request.
    pages.expectConsoleError(/status of 422/);
    const line = await lineWithSecurity(server.base);
    const owner = await pages.open('owner', server.url('/account'));
    await owner.evaluate((token) => sessionStorage.setItem('conclave.account_token', token), line.token);
    await owner.goto(server.url('/account#/webhooks'));
    await owner.reload();
    await owner.getByRole('link', { name: 'Webhooks' }).waitFor();
    await owner.locator('#no_webhooks').waitFor();
    assert.equal(await owner.getByRole('checkbox').count(), 8);
    for (const box of await owner.getByRole('checkbox').all()) assert.ok(await box.isChecked(), 'every event by default');
    await accessible(owner, 'the webhooks page, empty');

    // A URL the server refuses: its reason shows, and the typed URL stays.
    const url = owner.getByLabel('Endpoint URL');
    await url.fill('ftp://x');
    await owner.getByRole('button', { name: 'Add endpoint' }).click();
    await owner.getByRole('alert').getByText('the URL must start with https://').waitFor();
    assert.equal(await url.inputValue(), 'ftp://x');
    assert.equal(await owner.locator('#webhooks').count(), 0);

    // Added from the keyboard: the secret shows once, focused to copy.
    const hooks = receiverUrl('/hooks');
    await url.fill('');
    await url.focus();
    await owner.keyboard.type(hooks);
    await owner.keyboard.press('Enter');
    const secretField = owner.getByLabel('Signing secret');
    await secretField.waitFor();
    const secret = await secretField.inputValue();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.equal(await secretField.isEditable(), false, 'read-only');
    assert.ok(await secretField.evaluate((el) => el === document.activeElement), 'the secret has the focus');
    await owner.locator('#new_webhook').getByText('shown only this once').waitFor();
    assert.equal(await owner.getByRole('alert').count(), 0, 'the earlier error is gone');
    assert.equal(await url.inputValue(), '', 'the form is reset');
    await owner.locator('#webhooks tbody tr', { hasText: hooks }).waitFor();
    await accessible(owner, 'the webhooks page, a secret shown once');
    await owner.getByRole('button', { name: 'Done' }).click();
    await secretField.waitFor({ state: 'detached' });

    // A second endpoint, for one event only, whose receiver fails at first.
    const flakyUrl = receiverUrl('/flaky');
    await url.fill(flakyUrl);
    for (const box of await owner.getByRole('checkbox').all()) {
      if ((await box.getAttribute('value')) !== 'participant.joined') {
        await box.focus();
        await owner.keyboard.press('Space');
      }
    }
    await owner.getByRole('button', { name: 'Add endpoint' }).click();
    await secretField.waitFor();
    await owner.getByRole('button', { name: 'Done' }).click();
    const flakyRow = owner.locator('#webhooks tbody tr', { hasText: flakyUrl });
    await flakyRow.getByRole('cell', { name: 'participant.joined', exact: true }).waitFor();
    assert.ok(await owner.getByLabel('conference.ended').isChecked(), 'the reset form checks every event again');
    await owner.reload();
    await flakyRow.waitFor();
    assert.equal(await owner.locator('#new_webhook_secret').count(), 0, 'no secret after a reload');

    // Someone joins the account's line: the events arrive, signed.
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { code: line.code, securityCode: line.securityCode, pin: line.pin, name: 'Chair' });
    const types = () => received.filter((r) => r.path === '/hooks').map((r) => JSON.parse(r.body).type);
    await until(() => types().includes('conference.started') && types().includes('participant.joined'), 'both events at the receiver');
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    for (const r of received.filter((x) => x.path === '/hooks')) {
      const id = String(r.headers['webhook-id']);
      const signed = `${id}.${r.headers['webhook-timestamp']}.${r.body}`;
      const expected = `v1,${createHmac('sha256', key).update(signed).digest('base64')}`;
      assert.equal(r.headers['webhook-signature'], expected, `the signature of ${r.body}`);
      assert.ok(Math.abs(Number(r.headers['webhook-timestamp']) - Date.now() / 1000) < 60, 'a fresh timestamp');
      assert.equal(JSON.parse(r.body).id, id);
    }
    const joined = JSON.parse(/** @type {string} */ (received.find((r) => r.body.includes('participant.joined'))?.body));
    assert.equal(joined.data.name, 'Chair');

    // The deliveries, as the page shows them.
    await owner.getByRole('button', { name: `Deliveries to ${hooks}` }).click();
    await owner.getByRole('heading', { name: `Deliveries to ${hooks}` }).waitFor();
    assert.equal(await owner.getByRole('button', { name: `Deliveries to ${hooks}` }).getAttribute('aria-expanded'), 'true');
    await deliveryIs(owner, 'conference.started', 'delivered');
    const row = await deliveryIs(owner, 'participant.joined', 'delivered');
    assert.equal(await row.getByRole('button', { name: /^Retry/ }).count(), 0, 'nothing to retry');
    await row.getByText('HTTP 204').waitFor();
    await accessible(owner, 'the webhooks page, deliveries');

    // The failing receiver: the delivery fails for good, then is retried.
    await owner.getByRole('button', { name: `Deliveries to ${flakyUrl}` }).click();
    await owner.getByRole('heading', { name: `Deliveries to ${flakyUrl}` }).waitFor();
    const failed = await deliveryIs(owner, 'participant.joined', 'failed');
    await failed.getByText('HTTP 500').waitFor();
    await failed.getByRole('cell', { name: '2', exact: true }).waitFor();
    await accessible(owner, 'the webhooks page, a failed delivery');
    flaky = false;
    await failed.getByRole('button', { name: /^Retry the participant\.joined delivery/ }).click();
    await owner.getByRole('status').getByText('The participant.joined delivery is sent again.').waitFor();
    await deliveryIs(owner, 'participant.joined', 'delivered');
    assert.ok(received.some((r) => r.path === '/flaky' && r.body.includes('participant.joined')));

    // Deleted after the confirmation: gone from the list, and its panel too.
    await owner.getByRole('button', { name: `Delete ${flakyUrl}` }).click();
    await accessible(owner, 'the webhooks page, deleting');
    await owner.getByRole('button', { name: 'Keep it' }).click();
    await owner.getByRole('button', { name: `Delete ${flakyUrl}` }).click();
    await owner.getByRole('button', { name: 'Delete the endpoint' }).click();
    await flakyRow.waitFor({ state: 'detached' });
    assert.equal(await owner.locator('#deliveries').count(), 0);
    await owner.locator('#webhooks tbody tr', { hasText: hooks }).waitFor();
    await owner.getByRole('button', { name: `Delete ${hooks}` }).click();
    await owner.getByRole('button', { name: 'Delete the endpoint' }).click();
    await owner.locator('#no_webhooks').waitFor();
    await owner.reload();
    await owner.locator('#no_webhooks').waitFor();
  });
});

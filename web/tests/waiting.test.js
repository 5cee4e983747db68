// The waiting room as people use it: a moderator turns it on from the
// cog, guests wait on their page, the moderator admits one and denies
// another; the owner sets the account's default on the security page.
// One server and one browser for the file.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, fillJoin, heard, joinRoom, launchBrowser, lineWithSecurity, startServer, withPages } from './harness.js';

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

test('from the cog a moderator turns the waiting room on, admits one guest and denies another', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    await chair.getByRole('button', { name: 'Settings' }).click();
    const setting = chair.getByLabel('Waiting room');
    await setting.selectOption('everyone');

    // Eve waits, and her page says so.
    const eve = await pages.open('eve', server.url('/'));
    await fillJoin(eve, { ...line, pin: '', name: 'Eve' });
    await eve.getByText('Waiting for a moderator to let you in').waitFor();
    assert.equal(await eve.locator('#room').isVisible(), false);
    await accessible(eve, 'the waiting page');

    // The chair sees and hears her at the door, and lets her in from the keyboard.
    const waiting = chair.locator('#waiting');
    await waiting.getByRole('heading', { name: 'Waiting to join (1)' }).waitFor();
    await waiting.locator('li', { hasText: 'Eve' }).getByText('the room has a waiting room').waitFor();
    await heard(chair, 'knock');
    await accessible(chair, 'the room with someone waiting');
    await waiting.getByRole('button', { name: 'Admit Eve' }).focus();
    await chair.keyboard.press('Enter');
    await eve.locator('#room').waitFor({ state: 'visible' });
    await eve.locator('#participants li', { hasText: 'Chair' }).waitFor();
    await chair.locator('#participants li', { hasText: 'Eve' }).waitFor();
    await waiting.waitFor({ state: 'detached' });
    // Participants see the room's setting nowhere, and no list.
    assert.equal(await eve.locator('#waiting').count(), 0);

    // Mallory's markup-like name stays text; the chair denies her.
    const mallory = await pages.open('mallory', server.url('/'));
    await fillJoin(mallory, { ...line, pin: '', name: '<b>Mallory</b>' });
    await mallory.getByText('Waiting for a moderator to let you in').waitFor();
    const row = waiting.locator('li', { hasText: '<b>Mallory</b>' });
    await row.waitFor();
    assert.equal(await waiting.locator('b').count(), 0, 'no element from a name');
    await row.getByRole('button', { name: 'Deny <b>Mallory</b>' }).click();
    await mallory.locator('#closed').getByText('A moderator did not let you in').waitFor();
    await waiting.waitFor({ state: 'detached' });

    // With the setting off again, the next guest comes straight in.
    await setting.selectOption('off');
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
  });
});

test('two wait; "Admit all" lets both in; one who gives up leaves the list', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    await chair.getByRole('button', { name: 'Settings' }).click();
    await chair.getByLabel('Waiting room').selectOption('unknown_guests');
    const guests = [];
    for (const name of ['Ann', 'Ben', 'Cat']) {
      const page = await pages.open(name.toLowerCase(), server.url('/'));
      await fillJoin(page, { ...line, pin: '', name });
      await page.getByText('Waiting for a moderator to let you in').waitFor();
      guests.push(page);
    }
    const waiting = chair.locator('#waiting');
    await waiting.getByRole('heading', { name: 'Waiting to join (3)' }).waitFor();
    // Cat gives up.
    await guests[2].getByRole('button', { name: 'Leave' }).click();
    await waiting.getByRole('heading', { name: 'Waiting to join (2)' }).waitFor();
    await waiting.getByRole('button', { name: 'Admit all' }).click();
    for (const page of guests.slice(0, 2)) await page.locator('#room').waitFor({ state: 'visible' });
    await waiting.waitFor({ state: 'detached' });
    assert.equal(await chair.locator('#participants li').count(), 3);
  });
});

test('the owner sets the default waiting room on the security page; the line follows it', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const page = await pages.open('owner', server.url('/account'));
    // Signed in already (the API's sign-up): the tab keeps the token.
    await page.evaluate((token) => sessionStorage.setItem('conclave.account_token', token), line.token);
    await page.goto(server.url('/account#/security'));
    await page.reload();
    const select = page.getByLabel('Default waiting room');
    // Enabled once the saved setting has loaded.
    await page.locator('#waiting_default:enabled').waitFor();
    assert.equal(await select.inputValue(), 'off');
    await select.selectOption('everyone');
    await page.getByRole('button', { name: 'Save the waiting room' }).click();
    await page.getByText('The default waiting room is saved.').waitFor();
    await accessible(page, 'the security page with the waiting room');
    await page.reload();
    await page.locator('#waiting_default:enabled').waitFor();
    assert.equal(await page.getByLabel('Default waiting room').inputValue(), 'everyone');

    // The line's room opens with it: a guest waits, the PIN does not.
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const guest = await pages.open('guest', server.url('/'));
    await fillJoin(guest, { ...line, pin: '', name: 'Guest' });
    await guest.getByText('Waiting for a moderator to let you in').waitFor();
    await chair.getByRole('button', { name: 'Settings' }).click();
    assert.equal(await chair.getByLabel('Waiting room').inputValue(), 'everyone');
  });
});

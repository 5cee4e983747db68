// A moderator's tools as people use them: recording from the cog (everyone
// is told), and promote, demote and mute from a participant's actions.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { joinRoom, launchBrowser, lineWithSecurity, startServer, withPages } from './harness.js';

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

test('recording started from the cog: everyone sees the banner, and it goes when stopped', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    await chair.locator('#participants li', { hasText: 'Bob' }).waitFor();

    await chair.getByRole('button', { name: 'Settings' }).click();
    await chair.getByRole('button', { name: 'Start recording' }).click();
    for (const page of [chair, bob]) {
      const banner = page.getByRole('status').filter({ hasText: 'Recording: everyone is told' });
      await banner.waitFor();
    }
    // Recording moves the call through the server.
    await bob.locator('#mode', { hasText: 'Encrypted to the server' }).waitFor();

    // Someone who joins while it runs is told too.
    const cy = await pages.open('cy', server.url('/'));
    await joinRoom(cy, { ...line, pin: '', name: 'Cy' });
    await cy.getByRole('status').filter({ hasText: 'Recording: everyone is told' }).waitFor();

    // Through the server, the active speaker is framed and named on the
    // tiles (the fake microphones beep), and the grid has three tiles.
    await chair.locator('#videos.count-3').waitFor();
    await chair.locator('figure.tile.speaking figcaption', { hasText: '(speaking)' }).waitFor({ timeout: 20_000 });

    await chair.getByRole('button', { name: 'Stop recording' }).click();
    for (const page of [chair, bob, cy]) await page.locator('#recording').waitFor({ state: 'hidden' });
  });
});

test('the grid follows the number of people; speaker view shows one large', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    await chair.locator('#videos.count-1').waitFor();
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    await chair.locator('#videos.count-2 figure', { hasText: 'Bob' }).waitFor();

    const toggle = chair.getByRole('button', { name: 'Speaker view' });
    await toggle.press('Enter');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    // The large tile is someone else, first in the view.
    const main = chair.locator('#videos.speaker-view figure.main');
    await main.waitFor();
    assert.equal(await main.locator('figcaption').innerText(), 'Bob');
    assert.equal(await chair.locator('#videos figure').first().getAttribute('class'), 'tile main');
    const [big, small] = await Promise.all([main.boundingBox(), chair.locator('#videos figure:not(.main)').boundingBox()]);
    assert.ok(big && small && big.width > 2 * small.width, 'one large, the others small');

    await toggle.click();
    await chair.locator('#videos.count-2').waitFor();
    // Bob leaves: one tile again.
    await bob.getByRole('button', { name: 'Leave' }).click();
    await chair.locator('#videos.count-1').waitFor();
  });
});

test('promote, demote and mute from the participant actions', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    assert.equal(await bob.getByRole('button', { name: 'Settings' }).count(), 0);

    const row = chair.locator('#participants li', { hasText: 'Bob' });
    const open = row.getByRole('button', { name: 'Actions for Bob' });
    // From the keyboard.
    await open.focus();
    await chair.keyboard.press('Enter');
    assert.equal(await open.getAttribute('aria-expanded'), 'true');

    await row.getByRole('button', { name: 'Make moderator' }).press('Enter');
    const bobSelf = bob.locator('#participants li', { hasText: 'Bob (you)' });
    await bobSelf.getByText('moderator').waitFor();
    // The promoted page gets the moderator's tools.
    await bob.getByRole('button', { name: 'Settings' }).waitFor();
    await bob.locator('#participants li', { hasText: 'Chair' }).getByRole('button', { name: 'Actions for Chair' }).waitFor();

    await row.getByRole('button', { name: 'Make participant' }).click();
    await bob.getByRole('button', { name: 'Settings' }).waitFor({ state: 'detached' });
    assert.equal(await bobSelf.getByText('moderator').count(), 0);

    await row.getByRole('button', { name: 'Mute', exact: true }).click();
    for (const page of [chair, bob]) {
      await page.locator('#participants li', { hasText: 'Bob' }).locator('.badge', { hasText: 'muted' }).waitFor();
    }
    await row.getByRole('button', { name: 'Unmute' }).click();
    for (const page of [chair, bob]) {
      await page.locator('#participants li', { hasText: 'Bob' }).locator('.badge', { hasText: 'muted' }).waitFor({ state: 'detached' });
    }
  });
});

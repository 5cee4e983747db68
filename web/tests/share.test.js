// Sharing in the meeting room, as people do it: documents in the chat
// panel (upload with progress, download, remove), the moderators-only
// share permission, and screen sharing. One server and one browser for the
// file; each test opens its own pages.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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

/** Bytes no text encoding would keep as they are. */
const BYTES = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 256));

test('a participant shares a document, another downloads it, the moderator removes it everywhere', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    const cy = await pages.open('cy', server.url('/'));
    await joinRoom(cy, { ...line, pin: '', name: 'Cy' });

    // The progress bar shows while the bytes leave.
    await bob.evaluate(() => {
      // @ts-ignore: a test marker
      window.sawProgress = false;
      new MutationObserver(() => {
        // @ts-ignore: a test marker
        if (document.getElementById('upload_progress')) window.sawProgress = true;
      }).observe(document.body, { childList: true, subtree: true });
    });
    await bob.getByLabel('Share a document').setInputFiles({ name: '<b>agenda.bin', mimeType: 'application/octet-stream', buffer: BYTES });
    for (const page of [chair, bob, cy]) {
      await page.locator('#documents li', { hasText: '<b>agenda.bin' }).waitFor();
    }
    assert.equal(await bob.evaluate(() => /** @type {any} */ (window).sawProgress), true, 'the upload showed its progress');
    // The name stays text.
    assert.equal(await cy.locator('#documents li b').count(), 0);
    // Participants remove only their own; moderators any.
    assert.equal(await cy.getByRole('button', { name: 'Remove <b>agenda.bin' }).count(), 0);
    assert.equal(await bob.getByRole('button', { name: 'Remove <b>agenda.bin' }).count(), 1);

    const [download] = await Promise.all([
      cy.waitForEvent('download'),
      cy.getByRole('button', { name: 'Download <b>agenda.bin' }).click(),
    ]);
    // Chromium makes the file name safe for the disk (`_b_agenda.bin`).
    assert.match(download.suggestedFilename(), /agenda\.bin$/);
    assert.ok(readFileSync(await download.path()).equals(BYTES), 'the downloaded bytes are the uploaded ones');

    await chair.getByRole('button', { name: 'Remove <b>agenda.bin' }).press('Enter');
    for (const page of [chair, bob, cy]) await page.locator('#no_documents').waitFor();
  });
});

test('share for moderators only: the upload says why it is disabled, and a forced upload is refused', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });

    await chair.getByRole('button', { name: 'Settings' }).click();
    await chair.getByLabel('Who may share documents and screens').selectOption('moderators');
    await bob.locator('#share_why').waitFor({ state: 'visible' });
    const upload = bob.getByLabel('Share a document');
    assert.equal(await upload.isDisabled(), true);
    assert.match(await bob.locator('#share_why').innerText(), /Only moderators may share/);
    assert.equal(await upload.getAttribute('aria-describedby'), 'share_why');

    // Forced past the page's own check: the server refuses it.
    pages.expectConsoleError(/status of 403/);
    await upload.evaluate((el) => /** @type {HTMLInputElement} */ (el).removeAttribute('disabled'));
    await upload.setInputFiles({ name: 'forced.txt', mimeType: 'text/plain', buffer: Buffer.from('no') });
    await bob.locator('#room_error').filter({ hasText: '(not_permitted)' }).waitFor();
    assert.equal(await chair.locator('#documents li').count(), 0);

    // The moderator still may.
    await chair.getByLabel('Share a document').setInputFiles({ name: 'minutes.txt', mimeType: 'text/plain', buffer: Buffer.from('ok') });
    await bob.locator('#documents li', { hasText: 'minutes.txt' }).waitFor();
  });
});

/**
 * Waits until the page shows `owner`'s screen, decoded at a screen's size
 * (the fake screen is 1280×720; the fake camera is sent at 640×480).
 * @param {import('playwright-core').Page} page
 * @param {string} caption
 */
async function seesScreen(page, caption) {
  const video = page.locator('figure.screen', { hasText: caption }).locator('video');
  await video.waitFor({ timeout: 30_000 });
  // Looked at, as a person would: a tile out of sight is sent no video.
  await video.scrollIntoViewIfNeeded();
  await page.waitForFunction((v) => /** @type {HTMLVideoElement} */ (v).videoWidth >= 1000, await video.elementHandle(), {
    timeout: 30_000,
    polling: 250,
  });
}

test('a screen share reaches the others, and stops when the moderator withdraws the share permission', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    // A third makes the room go through the server, which enforces `share`.
    const cy = await pages.open('cy', server.url('/'));
    await joinRoom(cy, { ...line, pin: '', name: 'Cy' });
    await cy.locator('#mode', { hasText: 'Encrypted to the server' }).waitFor();

    await bob.getByRole('button', { name: 'Share screen' }).click();
    await bob.getByRole('button', { name: 'Stop sharing' }).waitFor();
    await bob.locator('figure.screen', { hasText: 'Your screen' }).waitFor();
    await seesScreen(chair, "Bob's screen");
    await seesScreen(cy, "Bob's screen");

    await chair.getByRole('button', { name: 'Settings' }).click();
    await chair.getByLabel('Who may share documents and screens').selectOption('moderators');
    for (const page of [chair, cy]) {
      await page.locator('figure.screen', { hasText: "Bob's screen" }).waitFor({ state: 'detached', timeout: 15_000 });
    }
    const share = bob.getByRole('button', { name: 'Share screen' });
    await share.waitFor();
    assert.equal(await share.isDisabled(), true);
    assert.equal(await share.getAttribute('aria-describedby'), 'screen_why');
    assert.match(await bob.locator('#screen_why').innerText(), /Only moderators may share screens/);

    // A moderator still may, and stops from the same button.
    await chair.getByRole('button', { name: 'Share screen' }).click();
    await seesScreen(bob, "Chair's screen");
    await chair.getByRole('button', { name: 'Stop sharing' }).click();
    await bob.locator('figure.screen').waitFor({ state: 'detached', timeout: 15_000 });
  });
});

test('peer to peer, a screen share reaches the other in its own tile and goes when stopped', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    await bob.locator('#mode', { hasText: 'End-to-end encrypted' }).waitFor();

    // Bob answered the direct call: his screen needs an offer of his own.
    await bob.getByRole('button', { name: 'Share screen' }).click();
    await bob.locator('figure.screen', { hasText: 'Your screen' }).waitFor();
    await seesScreen(chair, "Bob's screen");
    // The camera stays in its own tile.
    await chair.locator('figure:not(.screen)', { hasText: 'Bob' }).waitFor();
    await bob.getByRole('button', { name: 'Stop sharing' }).click();
    await chair.locator('figure.screen').waitFor({ state: 'detached', timeout: 15_000 });
    // Sharing again takes the idle sender.
    await bob.getByRole('button', { name: 'Share screen' }).click();
    await seesScreen(chair, "Bob's screen");
  });
});

// The README's screenshots, taken the way the browser tests drive the
// pages (harness.js): `node tests/screenshots.js` after `cargo build`
// writes docs/screenshots/*.png. It is not a test file (node --test skips
// it), so the normal run does not pay for it.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fillJoin, launchBrowser, startServer } from './harness.js';

const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');
const VIEWPORT = { width: 1280, height: 800 };

const server = await startServer();
const browser = await launchBrowser();
try {
  mkdirSync(OUT, { recursive: true });
  const open = async (/** @type {string} */ path) => {
    const context = await browser.newContext({ viewport: VIEWPORT });
    const page = await context.newPage();
    await page.goto(server.url(path));
    return page;
  };
  const shot = (/** @type {import('playwright-core').Page} */ page, /** @type {string} */ name, fullPage = false) =>
    page.screenshot({ path: resolve(OUT, `${name}.png`), fullPage });

  const form = await open('/');
  await form.getByRole('button', { name: 'Join' }).waitFor();
  await form.getByLabel('Your name').fill('Grace Hopper');
  // The preview plays the fake camera.
  await form.waitForFunction(() => {
    const video = /** @type {HTMLVideoElement | null} */ (document.querySelector('#preview_video'));
    return video !== null && video.videoWidth > 0 && video.currentTime > 0.5;
  });
  await form.getByLabel('Your name').blur();
  // The whole form, its checkboxes below the fold included.
  await shot(form, 'join', true);

  // The owner signs up: the line page.
  const owner = await open('/account');
  const signUp = owner.locator('#sign_up');
  await signUp.getByLabel('Your name').fill('Ada Lovelace');
  await signUp.getByLabel('E-mail').fill('ada@example.org');
  await signUp.getByLabel('Password').fill('correct horse battery');
  await signUp.getByRole('button', { name: 'Create the account' }).click();
  await owner.locator('#line_access_code').waitFor();
  const code = (await owner.locator('#line_access_code').innerText()).trim();
  await shot(owner, 'account-line');

  // The owner hosts; two guests join; the menu's cog is opened.
  await owner.getByRole('button', { name: 'Join as the host' }).click();
  await owner.locator('#room').waitFor({ state: 'visible' });
  const guests = [];
  for (const name of ['Grace Hopper', 'Alan Turing']) {
    const guest = await open('/');
    await fillJoin(guest, { code, name });
    await guest.locator('#room').waitFor({ state: 'visible' });
    guests.push(guest);
  }
  await guests[0].getByLabel('Message').fill('Morning, everyone');
  await guests[0].getByRole('button', { name: 'Send' }).click();
  await owner.locator('#participants li').nth(2).waitFor();
  // Polled: waitForFunction would take an async check's promise as true.
  for (let tries = 0; ; tries++) {
    const decoded = await owner.evaluate(async () => {
      // @ts-ignore: the page's diagnostics
      const stats = await window.conclave.stats();
      return stats.inbound.filter((/** @type {any} */ r) => r.kind === 'video' && r.frames >= 20).length;
    });
    if (decoded >= 2) break;
    if (tries > 180) throw new Error('the moderator does not decode both guests');
    await owner.waitForTimeout(250);
  }
  await owner.getByRole('button', { name: 'Settings' }).click();
  await owner.waitForTimeout(500);
  await shot(owner, 'room-moderator');

  // Everyone leaves; the finished session on the reports page.
  for (const guest of guests) await guest.getByRole('button', { name: 'Leave' }).click();
  await owner.getByRole('button', { name: 'Leave' }).click();
  await owner.goto(server.url('/account#/reports'));
  await owner.waitForTimeout(1500);
  await owner.goto(server.url('/account#/reports'));
  await owner.getByRole('link', { name: /your line/ }).click();
  await owner.locator('table.attendance').waitFor();
  await shot(owner, 'reports');
} finally {
  await browser.close();
  await server.stop();
}

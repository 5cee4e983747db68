// An organisation as its people use it, in two browsers: the admin names
// it and invites by e-mail; the invitee, signed in with that address, sees
// the invitation and accepts it from the keyboard; the admin then sees the
// new member, finds a meeting of theirs among every member's meetings on
// the reports page and reads it, makes them an admin, and the member can
// leave again.

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
 * @param {import('playwright-core').Page} page
 * @param {string} text
 */
async function said(page, text) {
  await page.locator('#organisation_state').getByText(text).waitFor();
}

test('an admin invites by e-mail, the invitee accepts, the admin manages the member', async (t) => {
  await withPages(browser, t, async (pages) => {
    const admin = await pages.open('admin', server.url('/account'));
    await signUpForLine(admin, 'Ada');
    const member = await pages.open('member', server.url('/account'));
    const beaCode = await signUpForLine(member, 'Bea');
    const beaEmail = (await member.locator('.who').innerText()).trim();

    await admin.getByRole('link', { name: 'Organisation' }).click();
    await admin.getByRole('heading', { name: 'Your own organisation (not named yet)' }).waitFor();
    assert.match(await admin.locator('#organisation_role').innerText(), /an admin of your own organisation/);
    await accessible(admin, 'the organisation page of an admin');
    await admin.getByLabel('Organisation name').fill('Acme');
    await admin.getByLabel('Organisation name').press('Enter');
    await said(admin, 'The organisation is now called Acme.');
    await admin.getByRole('heading', { name: 'Acme' }).waitFor();
    await admin.getByLabel('Invite by e-mail').fill(beaEmail);
    await admin.getByLabel('Invite by e-mail').press('Enter');
    await said(admin, `${beaEmail} is invited.`);
    await admin.locator('#open_invitations').getByText(beaEmail).waitFor();

    // The invitee, from the keyboard.
    await member.getByRole('link', { name: 'Organisation' }).click();
    const accept = member.getByRole('button', { name: 'Accept the invitation to Acme' });
    await accept.waitFor();
    assert.match(await member.locator('#my_invitations').innerText(), /Acme, from Ada/);
    await accessible(member, 'the organisation page with an invitation');
    await accept.focus();
    await member.keyboard.press('Enter');
    await said(member, 'You are now a member of Acme. Its admins can read your reports.');
    await member.getByRole('heading', { name: 'Acme' }).waitFor();
    assert.match(await member.locator('#organisation_role').innerText(), /a member of this organisation/);
    assert.equal(await member.getByRole('table').count(), 0, 'a member sees no member list');

    // The admin sees the member and makes them an admin.
    await admin.reload();
    await admin.getByRole('link', { name: 'Organisation' }).click();
    // By the name in its header cell: `hasText` is a case-insensitive
    // substring, and an e-mail's random part (hex) may hold "bea".
    const row = admin.locator('#members tr').filter({ has: admin.getByRole('rowheader', { name: 'Bea', exact: true }) });
    await row.waitFor();
    assert.match(await row.innerText(), /Member/);
    assert.equal(await admin.locator('#open_invitations').count(), 0, 'the accepted invitation is no longer open');

    // A meeting on Bea's line: the admin finds it among every member's
    // meetings on the reports page, and reads its attendance.
    const beaToken = await member.evaluate(() => sessionStorage.getItem('conclave.account_token'));
    await member.evaluate(async (code) => {
      const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws`);
      const answer = (/** @type {string} */ id) =>
        new Promise((resolve) => ws.addEventListener('message', (e) => JSON.parse(e.data).id === id && resolve(null)));
      await new Promise((resolve) => ws.addEventListener('open', resolve));
      ws.send(JSON.stringify({ type: 'join', id: 'j', access_code: code, name: 'Guest <b>Quill</b>' }));
      await answer('j');
      ws.send(JSON.stringify({ type: 'leave', id: 'l' }));
      await answer('l');
      ws.close();
    }, beaCode);
    for (let i = 0; ; i++) {
      const res = await fetch(server.url('/api/v1/reports/sessions'), { headers: { Authorization: `Bearer ${beaToken}` } });
      if ((await res.json()).sessions.some((/** @type {any} */ s) => s.ended_at)) break;
      assert.ok(i < 100, "Bea's meeting never ended");
      await new Promise((r) => setTimeout(r, 100));
    }
    await admin.getByRole('link', { name: 'Reports' }).click();
    await admin.locator('#meetings_form, #meetings_range').first().waitFor();
    await admin.getByLabel('Whose').selectOption('organisation');
    await admin.getByRole('button', { name: 'Show' }).press('Enter');
    const meeting = admin.locator('#meetings tbody tr', { hasText: 'Bea' });
    await meeting.waitFor();
    await admin.getByRole('columnheader', { name: 'Owner' }).waitFor();
    await accessible(admin, "the reports page with every member's meetings");
    await meeting.getByRole('link').click();
    await admin.getByRole('heading', { name: "Reports: A member's conference" }).waitFor();
    await admin.getByText('Guest <b>Quill</b>').first().waitFor();
    assert.equal(await admin.locator('b', { hasText: 'Quill' }).count(), 0, 'a name is text, never markup');
    assert.equal((await admin.locator('[role=alert]').allInnerTexts()).join('').trim(), '');
    await admin.getByRole('link', { name: 'Organisation' }).click();
    await admin.getByRole('button', { name: 'Make admin: Bea' }).click();
    await said(admin, 'Bea is now an admin.');
    await row.getByRole('cell', { name: 'Admin', exact: true }).waitFor();
    assert.equal(await row.getByRole('button', { name: 'Make member: Bea' }).count(), 1);
    // The only other admin cannot be left without one: Ada stays admin of
    // her own organisation, Bea leaves it and is back in her own.
    await member.reload();
    await member.getByRole('link', { name: 'Organisation' }).click();
    await member.getByRole('button', { name: 'Leave the organisation' }).click();
    await said(member, 'You left the organisation: you are back in your own.');
    await member.locator('#organisation_role').getByText('You are an admin of your own organisation.').waitFor();
  });
});

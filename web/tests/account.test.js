// The account pages as people use them: sign up, the line, security
// settings, scheduling, joining as the host, resets, reports with the CSV,
// deleting a summary, and the address book a moderator fills by naming a
// phone caller. Joins are checked at the meeting page's form.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { accessible, fillJoin, joinRoom, launchBrowser, startServer, withPages } from './harness.js';
import { GATEWAY_SECRET, connectGateway } from './gateway.js';

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
 * Signs up on the page; answers the moderator PIN the page showed once.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
async function signUp(page, name, email = `${name.toLowerCase()}-${crypto.randomUUID()}@example.org`) {
  const form = page.locator('#sign_up');
  await form.getByLabel('Your name').fill(name);
  await form.getByLabel('E-mail').fill(email);
  await form.getByLabel('Password').fill('correct horse battery');
  await form.getByRole('button', { name: 'Create the account' }).click();
  const notice = await page.locator('#notice').innerText();
  const pin = /moderator PIN is (\d+)/.exec(notice);
  assert.ok(pin, notice);
  return pin[1];
}

/** @param {import('playwright-core').Page} page */
async function lineCode(page) {
  await page.locator('#line_access_code').waitFor();
  return (await page.locator('#line_access_code').innerText()).trim();
}

/**
 * Schedules a conference on the page; answers its access code.
 * @param {import('playwright-core').Page} page
 * @param {string} title
 * @param {'none' | 'default' | 'own'} security
 * @param {string} [code]
 */
async function schedule(page, title, security, code) {
  await page.getByRole('link', { name: 'Scheduling' }).click();
  const form = page.locator('#schedule');
  await form.getByLabel('Title').fill(title);
  await form.getByRole('radio', { name: { none: 'No security code', default: 'Your default', own: 'Its own' }[security] }).check();
  if (code) await form.getByLabel('Security code for this conference').fill(code);
  await form.getByRole('button', { name: 'Schedule' }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
  return (await page.locator('#conference_access_code').innerText()).trim();
}

/**
 * A guest at the meeting page's form; answers the page once it is in the
 * room, or the refusal it shows.
 * @param {import('./harness.js').Pages} pages
 * @param {string} name
 * @param {{code: string, securityCode?: string, pin?: string}} codes
 */
async function tryJoin(pages, name, codes) {
  const page = await pages.open(name, server.url('/'));
  await fillJoin(page, { ...codes, name });
  const outcome = await Promise.race([
    page.locator('#room').waitFor({ state: 'visible' }).then(() => 'room'),
    page.locator('#join_error').filter({ hasText: /\S/ }).waitFor().then(() => 'refused'),
  ]);
  const error = outcome === 'refused' ? await page.locator('#join_error').innerText() : '';
  if (outcome === 'room') await page.getByRole('button', { name: 'Leave' }).click();
  return { outcome, error, page };
}

test('sign up, see the line, schedule a conference with its own security code, and join it as the host', async (t) => {
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('owner', server.url('/account'));
    await accessible(page, 'the sign-in page');
    await signUp(page, 'Ada');
    await page.getByRole('heading', { name: 'Your line' }).waitFor();
    assert.match(await lineCode(page), /^\d{6,}$/);
    await page.getByRole('heading', { name: 'Dial-in instructions' }).waitFor();
    await accessible(page, 'the line');

    await page.getByRole('link', { name: 'Security' }).click();
    await page.locator('#security_rule').waitFor();
    assert.match(await page.locator('#security_rule').innerText(), /conferences you schedule from now on/);
    await accessible(page, 'the security settings');

    const code = await schedule(page, 'Board meeting', 'own', '97531');
    assert.match(await page.locator('#conference_security').innerText(), /own security code/);
    await accessible(page, 'a scheduled conference');
    await page.getByRole('link', { name: 'Scheduling' }).click();
    await page.locator('#conferences').getByRole('link', { name: 'Board meeting' }).waitFor();
    assert.match(await page.locator('#conferences').innerText(), new RegExp(code));
    await accessible(page, 'the scheduling page');

    // Without the security code, a guest is asked for it.
    const guest = await tryJoin(pages, 'guest', { code });
    assert.equal(guest.outcome, 'refused');
    assert.match(guest.error, /needs its security code/);

    // The host joins from the account page: no access code, no security code, no PIN.
    await page.locator('#conferences').getByRole('link', { name: 'Board meeting' }).click();
    await page.getByRole('button', { name: 'Join as the host' }).click();
    await page.locator('#room').waitFor({ state: 'visible' });
    // The owner chairs: the moderator's cog is there.
    await page.getByRole('button', { name: 'Settings' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the hand-over leaves nothing in the address');
    await page.getByRole('button', { name: 'Leave' }).click();
  });
});

test('a default security code applies to conferences scheduled after it, not before', async (t) => {
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('owner', server.url('/account'));
    await signUp(page, 'Bea');
    const before = await schedule(page, 'Before', 'default');

    await page.getByRole('link', { name: 'Security' }).click();
    await page.getByRole('textbox', { name: 'Default security code' }).fill('2468');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('A default security code is set.').waitFor();
    const afterCode = await schedule(page, 'After', 'default');

    assert.equal((await tryJoin(pages, 'early', { code: before })).outcome, 'room', 'scheduled before: no code needed');
    const refused = await tryJoin(pages, 'late', { code: afterCode });
    assert.match(refused.error, /needs its security code/);
    assert.equal((await tryJoin(pages, 'late2', { code: afterCode, securityCode: '2468' })).outcome, 'room');
  });
});

test('resetting the PIN and the access code on the page: the old ones are refused, the new ones work', async (t) => {
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('owner', server.url('/account'));
    const email = `cy-${crypto.randomUUID()}@example.org`;
    const oldPin = await signUp(page, 'Cy', email);
    await page.getByRole('button', { name: 'Done' }).click();
    const oldCode = await lineCode(page);

    await page.getByRole('button', { name: 'Reset the access code…' }).click();
    assert.match(await page.locator('#confirm_text').innerText(), /stops working at once, for all future conferences/);
    await page.getByRole('button', { name: 'Reset the access code', exact: true }).click();
    const codeNotice = await page.locator('#notice').innerText();
    const newCode = /new access code is (\d+)/.exec(codeNotice)?.[1];
    assert.ok(newCode && newCode !== oldCode, codeNotice);
    assert.match(codeNotice, /refused for every future conference/);
    await page.locator('#line_access_code', { hasText: newCode }).waitFor();

    await page.getByRole('button', { name: 'Reset the moderator PIN…' }).click();
    await page.getByRole('button', { name: 'Reset the PIN' }).click();
    await page.locator('#notice', { hasText: 'new moderator PIN' }).waitFor();
    const pinNotice = await page.locator('#notice').innerText();
    const newPin = /new moderator PIN is (\d+)/.exec(pinNotice)?.[1];
    assert.ok(newPin && newPin !== oldPin, pinNotice);
    assert.match(pinNotice, /shown this once/);
    assert.match(pinNotice, /old PIN stopped working for all future conferences/);

    const oldCodeTry = await tryJoin(pages, 'old_code', { code: oldCode });
    assert.match(oldCodeTry.error, /access code or the security code is wrong/);
    const oldPinTry = await tryJoin(pages, 'old_pin', { code: newCode, pin: oldPin });
    assert.match(oldPinTry.error, /moderator PIN is wrong/);
    const chair = await pages.open('new_pin', server.url('/'));
    await fillJoin(chair, { code: newCode, pin: newPin, name: 'Chair' });
    await chair.getByRole('button', { name: 'Settings' }).waitFor();

    // Sign out, and back in: the line shows the new code.
    await page.getByRole('button', { name: 'Sign out' }).click();
    const signIn = page.locator('#sign_in');
    await signIn.getByLabel('E-mail').fill(email);
    await signIn.getByLabel('Password').fill('correct horse battery');
    await signIn.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#line_access_code', { hasText: newCode }).waitFor();
  });
});

/**
 * @param {string} token
 * @param {string} path
 */
async function get(token, path) {
  const res = await fetch(server.url(`/api/v1${path}`), { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, path);
  return res.json();
}

test('the owner reads a finished session, downloads its attendance as CSV, then deletes the summary', async (t) => {
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('owner', server.url('/account'));
    await signUp(page, 'Dee');
    const code = await lineCode(page);
    await page.getByRole('button', { name: 'Join as the host' }).click();
    await page.locator('#room').waitFor({ state: 'visible' });

    // A name a spreadsheet would run as a formula, with a comma and quotes.
    const guest = await pages.open('guest', server.url('/'));
    await fillJoin(guest, { code, name: '=HYPERLINK("x"), Eve' });
    await guest.locator('#room').waitFor({ state: 'visible' });
    await guest.getByLabel('Message').fill('hello from Eve');
    await guest.getByRole('button', { name: 'Send' }).click();
    await page.locator('#chat li', { hasText: 'hello from Eve' }).waitFor();
    await guest.getByRole('button', { name: 'Leave' }).click();
    await page.getByRole('button', { name: 'Leave' }).click();

    // Back to the account pages in the same tab: still signed in.
    await page.goto(server.url('/account#/reports'));
    const token = await page.evaluate(() => sessionStorage.getItem('conclave.account_token'));
    assert.ok(token);
    const line = await get(token, '/account/line');
    // The session ends when the room empties; its writes are asynchronous.
    for (let i = 0; ; i++) {
      const sessions = await get(token, `/conferences/${line.id}/sessions`);
      if (sessions.length === 1 && sessions[0].ended_at) break;
      assert.ok(i < 100, 'the session never ended');
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.getByRole('link', { name: /your line/ }).click();
    const table = page.locator('table.attendance');
    await table.waitFor();
    assert.equal(await table.locator('tbody tr').count(), 2);
    assert.match(await table.innerText(), /=HYPERLINK\("x"\), Eve/);
    await page.locator('#chat_log', { hasText: 'hello from Eve' }).waitFor();
    await accessible(page, 'the reports page');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: /Download the attendance of session 1/ }).click(),
    ]);
    const [session] = await get(token, `/conferences/${line.id}/sessions`);
    // The server's file, named by the server: the session's start and id.
    assert.equal(download.suggestedFilename(), `attendance-${session.started_at.replace(/[-:]/g, '').slice(0, 13)}Z-${session.id}.csv`);
    const csv = readFileSync(/** @type {string} */ (await download.path()), 'utf8');
    const rows = JSON.parse(
      execFileSync('python3', ['-c', 'import csv, json, sys; print(json.dumps(list(csv.reader(sys.stdin))))'], { input: csv }).toString(),
    );
    const { attendance } = await get(token, `/conferences/${line.id}/sessions/${session.id}/attendance`);
    const text = (/** @type {string} */ v) => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v);
    const expected = attendance.map((/** @type {any} */ a) => [
      text(a.name),
      a.endpoint,
      text(a.phone_number || ''),
      a.role,
      a.joined_at,
      a.left_at,
      String(a.duration_secs),
      a.left_reason,
    ]);
    assert.deepEqual(rows, [['name', 'endpoint', 'number', 'role', 'joined_at', 'left_at', 'duration_secs', 'reason'], ...expected]);
    assert.equal(rows[2][0], `'=HYPERLINK("x"), Eve`, 'the formula stays text');

    await page.getByRole('button', { name: "Delete this conference's summary…" }).click();
    const confirm = await page.locator('#delete_text').innerText();
    assert.match(confirm, /1 past session/);
    assert.match(confirm, /The conference stays, with its access code/);
    await page.getByRole('button', { name: 'Delete the summary' }).click();
    await page.getByText('Deleted: 1 session(s)').waitFor();
    await page.locator('#no_sessions').waitFor();
    await page.reload();
    await page.locator('#no_sessions').waitFor();
    assert.equal(await page.locator('table.attendance').count(), 0);
    await page.getByText('No messages.').waitFor();
    assert.deepEqual(await get(token, `/conferences/${line.id}/sessions`), []);
  });
});

test('the owner records from the cog, then plays, downloads and deletes the recording on the reports page', async (t) => {
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('owner', server.url('/account'));
    await signUp(page, 'Fay');
    await page.getByRole('button', { name: 'Join as the host' }).click();
    await page.locator('#room').waitFor({ state: 'visible' });
    // Let the page publish its microphone and camera first.
    await page.waitForFunction(
      // @ts-ignore: the page's diagnostics
      () => window.conclave.connections().publish?.[0] === 'connected',
      null,
      { timeout: 20_000 },
    );
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('button', { name: 'Start recording' }).click();
    await page.locator('#recording').waitFor({ state: 'visible' });
    await page.waitForTimeout(3_000);
    await page.getByRole('button', { name: 'Stop recording' }).click();
    await page.locator('#recording').waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Leave' }).click();

    await page.goto(server.url('/account#/reports'));
    await page.getByRole('link', { name: /your line/ }).click();
    const recording = page.getByRole('heading', { name: /^Recording of / });
    await recording.waitFor({ timeout: 15_000 });
    await accessible(page, 'the reports page with a recording');

    const ogg = page.locator('tbody tr', { hasText: '.ogg' }).first();
    const oggName = (await ogg.locator('th').innerText()).trim();
    await ogg.getByRole('button', { name: /^Play/ }).click();
    const audio = page.locator('.player audio');
    await audio.waitFor();
    await page.waitForFunction(() => {
      const a = /** @type {HTMLAudioElement | null} */ (document.querySelector('.player audio'));
      return a !== null && a.readyState >= 1 && a.duration > 0;
    });
    const [download] = await Promise.all([page.waitForEvent('download'), ogg.getByRole('button', { name: /^Download/ }).click()]);
    assert.equal(download.suggestedFilename(), oggName);
    assert.ok(readFileSync(/** @type {string} */ (await download.path())).subarray(0, 4).equals(Buffer.from('OggS')));

    // One file, then the whole recording.
    const files = await page.locator('tbody tr').count();
    await ogg.getByRole('button', { name: /^Delete/ }).click();
    await page.getByRole('button', { name: `Really delete ${oggName}` }).click();
    await page.locator('th', { hasText: oggName }).waitFor({ state: 'detached' });
    if (files > 1) {
      await page.getByRole('button', { name: 'Delete the whole recording…' }).click();
      await page.getByRole('button', { name: 'Delete the recording' }).click();
    }
    await page.getByText('No recordings.').waitFor();
  });
});

test('a moderator names a phone caller; the owner renames and deletes the contact in the address book', async (t) => {
  const NUMBER = '+441234567123';
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('owner', server.url('/account'));
    await signUp(page, 'Gil');
    const code = await lineCode(page);
    await page.getByRole('link', { name: 'Address book' }).click();
    await page.locator('#no_contacts').waitFor();
    await accessible(page, 'the empty address book');

    await page.getByRole('link', { name: 'Your line' }).click();
    await page.getByRole('button', { name: 'Join as the host' }).click();
    await page.locator('#room').waitFor({ state: 'visible' });
    // A participant's page, to see what others see of the caller.
    const guest = await pages.open('guest', server.url('/'));
    await joinRoom(guest, { code, name: 'Guest' });
    const gateway = await connectGateway(server.base, GATEWAY_SECRET);
    try {
      // A participant's call: the access code, no security code, # for no PIN.
      gateway.send({ type: 'call', call: 'c1', from: NUMBER });
      gateway.send({ type: 'dtmf', call: 'c1', digits: `${code}##` });
      await gateway.next((m) => m.prompt === 'joined');
      // The participant sees the number masked, and never the full one.
      await guest.locator('#participants li', { hasText: '+44•••••••123' }).waitFor();
      assert.ok(!(await guest.locator('body').innerText()).includes(NUMBER), 'no full number on a participant page');
      // The moderator sees the full number, and names the caller from the list.
      const caller = page.locator('#participants li', { hasText: NUMBER });
      await caller.getByRole('button', { name: /^Actions for / }).click();
      await caller.getByRole('button', { name: 'Name this caller' }).click();
      await caller.getByLabel('Name for this caller').fill('Grace');
      await caller.getByRole('button', { name: 'Save the name' }).click();
      await page.locator('#participants li', { hasText: 'Grace' }).waitFor();
      await guest.locator('#participants li', { hasText: 'Grace' }).getByText('+44•••••••123').waitFor();
      gateway.send({ type: 'hangup', call: 'c1' });
      // Before the gateway goes: its hangup must reach the room first.
      await page.locator('#participants li', { hasText: NUMBER }).waitFor({ state: 'detached' });
    } finally {
      gateway.close();
    }
    await page.getByRole('button', { name: 'Leave' }).click();

    await page.goto(server.url('/account#/contacts'));
    const token = await page.evaluate(() => sessionStorage.getItem('conclave.account_token'));
    assert.ok(token);
    const table = page.locator('#contacts');
    await table.locator('tbody tr', { hasText: 'Grace' }).waitFor();
    assert.ok((await table.innerText()).includes(NUMBER), 'the owner sees the full number');
    await accessible(page, 'the address book');

    // A name with nothing visible is refused, in plain words; nothing changes.
    await page.getByRole('button', { name: 'Rename Grace' }).click();
    const newName = page.getByRole('textbox', { name: 'New name' });
    assert.ok(await newName.evaluate((el) => el === document.activeElement), 'the focus moves to the new name');
    await newName.fill('\u200b');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'The name was not saved: invalid field' }).waitFor();
    assert.equal(pages.forgive(/status of 422/), 1, 'the refused rename is the one console error');
    assert.equal((await table.locator('tbody th').innerText()).trim(), 'Grace');
    await accessible(page, 'the address book renaming');
    // Markup in a name stays text.
    await newName.fill('<i>Grace</i> Hopper');
    await page.getByRole('button', { name: 'Save the name' }).click();
    await page.getByText('Renamed to <i>Grace</i> Hopper.').waitFor();
    await table.locator('tbody th', { hasText: '<i>Grace</i> Hopper' }).waitFor();
    assert.equal(await table.locator('i').count(), 0);
    const [contact] = await get(token, '/account/contacts');
    assert.deepEqual([contact.name, contact.number], ['<i>Grace</i> Hopper', NUMBER]);

    // Delete asks first; "Keep it" keeps it.
    await page.getByRole('button', { name: 'Delete <i>Grace</i> Hopper' }).click();
    await page.getByText(/masked, until a moderator names/).waitFor();
    await accessible(page, 'the address book deleting');
    await page.getByRole('button', { name: 'Keep it' }).click();
    assert.equal((await get(token, '/account/contacts')).length, 1);
    await page.getByRole('button', { name: 'Delete <i>Grace</i> Hopper' }).click();
    await page.getByRole('button', { name: 'Delete the contact' }).click();
    await page.locator('#no_contacts').waitFor();
    assert.deepEqual(await get(token, '/account/contacts'), []);
  });
});

// The meeting room as people use it: Chromium pages join through the form,
// see each other, and a moderator uses the menu on the left. One server
// and one browser for the file; each test opens its own pages.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, axeViolations, fillJoin, heard, joinRoom, launchBrowser, lineWithSecurity, startServer, timesPlayed, withPages } from './harness.js';

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
 * Waits until the page decodes video from `from` others through the server.
 * @param {import('playwright-core').Page} page
 * @param {number} from
 */
async function decodesVideo(page, from) {
  // Polled here: waitForFunction takes the promise an async check returns
  // as a truthy answer and would not wait at all.
  const deadline = Date.now() + 45_000;
  for (;;) {
    const n = await page.evaluate(async () => {
      // @ts-ignore: the page's diagnostics
      const stats = await window.conclave.stats();
      return stats.inbound.filter((/** @type {any} */ r) => r.pc === 'subscribe' && r.kind === 'video' && r.frames >= 20).length;
    });
    if (n >= from) return;
    if (Date.now() > deadline) throw new Error(`video decoded from ${n} of ${from} publishers within 45 s`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

test('the join form has no serious accessibility violations', async (t) => {
  await withPages(browser, t, async (pages) => {
    const page = await pages.open('join', server.url('/'));
    await page.getByRole('button', { name: 'Join' }).waitFor();
    assert.deepEqual(await axeViolations(page), []);
    // At a phone's width too.
    await page.setViewportSize({ width: 390, height: 800 });
    assert.deepEqual(await axeViolations(page), []);
  });
});

test('before joining: a preview with device pickers; joining with the microphone and camera off sends neither', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const bob = await pages.open('bob', server.url('/'));
    // The preview plays the fake camera.
    await bob.waitForFunction(() => {
      const v = /** @type {HTMLVideoElement | null} */ (document.querySelector('#preview_video'));
      return v !== null && !v.hidden && v.videoWidth > 0 && v.currentTime > 0;
    });
    // Each picker lists a named device besides the default.
    const camera = bob.getByLabel('Camera', { exact: true });
    const microphone = bob.getByLabel('Microphone', { exact: true });
    await camera.locator('option').nth(1).waitFor({ state: 'attached' });
    await microphone.locator('option').nth(1).waitFor({ state: 'attached' });
    assert.ok((await camera.locator('option').nth(1).innerText()).trim().length > 0);
    // Picking a device by keyboard previews it.
    await camera.focus();
    await bob.keyboard.press('ArrowDown');
    assert.notEqual(await camera.inputValue(), '');
    await bob.waitForFunction(() => {
      const v = /** @type {HTMLVideoElement | null} */ (document.querySelector('#preview_video'));
      const s = v && /** @type {MediaStream | null} */ (v.srcObject);
      return s !== null && s !== undefined && s.getVideoTracks().some((t) => t.readyState === 'live') && /** @type {HTMLVideoElement} */ (v).videoWidth > 0;
    });
    assert.deepEqual(await axeViolations(bob), [], 'the join form with its preview');

    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    await bob.getByLabel('Join with microphone off').check();
    await bob.getByLabel('Join with camera off').check();
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    await bob.getByRole('button', { name: 'Unmute' }).waitFor();

    /**
     * What a page receives once audio has flowed for a while.
     * @param {import('playwright-core').Page} page
     */
    const received = async (page) => {
      /** @type {any[]} */
      let inbound = [];
      for (const deadline = Date.now() + 45_000; Date.now() < deadline; await page.waitForTimeout(250)) {
        // @ts-ignore: the page's diagnostics
        inbound = (await page.evaluate(() => window.conclave.stats())).inbound;
        if (inbound.some((r) => r.kind === 'audio' && r.packets >= 150)) break;
      }
      const of = (/** @type {string} */ kind) => inbound.filter((/** @type {any} */ r) => r.kind === kind);
      return {
        inbound,
        energy: Math.max(0, ...of('audio').map((/** @type {any} */ r) => r.energy)),
        frames: Math.max(0, ...of('video').map((/** @type {any} */ r) => r.frames)),
      };
    };
    // Bob hears the chair's fake microphone and sees the camera: the
    // measure works...
    const fromChair = await received(bob);
    assert.ok(fromChair.energy > 0.001, `Bob hears the chair: ${JSON.stringify(fromChair)}`);
    assert.ok(fromChair.frames > 0, `Bob sees the chair: ${JSON.stringify(fromChair)}`);
    // ...and the chair gets silence and no picture from Bob.
    const fromBob = await received(chair);
    assert.ok(fromBob.energy < 0.0001, `the chair hears silence from Bob: ${JSON.stringify(fromBob)}`);
    assert.equal(fromBob.frames, 0, 'no camera from Bob');
  });
});

/**
 * The video frames a page decoded on one of its connections, in all.
 * @param {import('playwright-core').Page} page
 * @param {string} pc
 */
async function framesOn(page, pc) {
  // @ts-ignore: the page's diagnostics
  const inbound = (await page.evaluate(() => window.conclave.stats())).inbound;
  return inbound.filter((/** @type {any} */ r) => r.pc === pc && r.kind === 'video').reduce((n, /** @type {any} */ r) => n + r.frames, 0);
}

/**
 * Waits until the frames a page decodes on `pc` grow by `more`.
 * @param {import('playwright-core').Page} page
 * @param {string} pc
 * @param {number} more
 */
async function framesGrow(page, pc, more = 20) {
  const start = await framesOn(page, pc);
  const deadline = Date.now() + 45_000;
  for (let now = start; now < start + more; now = await framesOn(page, pc)) {
    if (Date.now() > deadline) throw new Error(`${pc}: ${now - start} new frames within 45 s`);
    await page.waitForTimeout(250);
  }
}

test('the camera turns on and off after joining, peer to peer and through the server', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await bob.getByLabel('Join with camera off').check();
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    await chair.locator('#mode', { hasText: 'End-to-end encrypted' }).waitFor();
    await bob.locator('.tile', { hasText: 'You' }).getByText('Camera off').waitFor();
    await framesGrow(bob, 'peer');
    assert.equal(await framesOn(chair, 'peer'), 0, 'nothing from Bob yet');

    // Peer to peer: Bob's camera reaches the chair once he starts it...
    const start = bob.getByRole('button', { name: 'Start camera' });
    await start.focus();
    await bob.keyboard.press('Enter');
    await bob.getByRole('button', { name: 'Stop camera' }).waitFor();
    await framesGrow(chair, 'peer');
    assert.equal(await bob.locator('.tile', { hasText: 'You' }).getByText('Camera off').count(), 0);
    // ...and the chair's stops reaching Bob, whose page says so.
    await chair.getByRole('button', { name: 'Stop camera' }).click();
    await bob.locator('.tile', { hasText: 'Chair' }).getByText('Camera off').waitFor();
    const still = await framesOn(bob, 'peer');
    await bob.waitForTimeout(1500);
    assert.ok((await framesOn(bob, 'peer')) - still < 3, 'no frames from a stopped camera');
    // @ts-ignore: the page's diagnostics
    assert.equal(await chair.evaluate(() => window.conclave.sendingVideo()), 0, "the chair's connection carries no live camera");

    // Through the server: a third joins; the chair starts her camera on
    // a publish connection that had none, and both others decode it.
    const cy = await pages.open('cy', server.url('/'));
    await joinRoom(cy, { ...line, pin: '', name: 'Cy' });
    await chair.locator('#mode', { hasText: 'Encrypted to the server' }).waitFor();
    await framesGrow(cy, 'subscribe');
    await chair.getByRole('button', { name: 'Start camera' }).click();
    await bob.locator('.tile', { hasText: 'Chair' }).locator('video').waitFor();
    for (const page of [bob, cy]) {
      await page.waitForFunction(() => [...document.querySelectorAll('.tile')].some((el) => el.textContent?.includes('Chair') && !el.classList.contains('no-video')));
    }
    await framesGrow(cy, 'subscribe', 60);
  });
});

test('a wrong access code is refused in plain words, and the form stays for another try', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const page = await pages.open('guest', server.url('/'));
    await fillJoin(page, { code: '0000000000', securityCode: '2468', name: 'Guest' });
    await assert.doesNotReject(page.getByRole('alert').filter({ hasText: 'access code or the security code is wrong' }).waitFor());
    await joinRoom(page, { ...line, name: 'Guest' });
  });
});

test('three browsers meet; the moderator locks the room from the cog; a fourth is refused, a moderator PIN enters', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    const cy = await pages.open('cy', server.url('/'));
    await joinRoom(cy, { ...line, pin: '', name: 'Cy' });
    for (const page of [chair, bob, cy]) {
      await decodesVideo(page, 2);
      await assert.doesNotReject(page.locator('#participants li').nth(2).waitFor());
    }
    // Participants get no cog.
    assert.equal(await bob.getByRole('button', { name: 'Settings' }).count(), 0);

    await chair.getByRole('button', { name: 'Settings' }).click();
    await chair.getByRole('button', { name: 'Lock the room' }).click();
    for (const page of [chair, bob, cy]) await page.locator('#locked').waitFor({ state: 'visible' });
    // The room, as moderator with the settings open and as participant,
    // at 1280 and at a phone's 390 px.
    await accessible(chair, 'the room with the settings open');
    await accessible(bob, 'the room as a participant');

    const late = await pages.open('late', server.url('/'));
    await fillJoin(late, { ...line, pin: '', name: 'Late' });
    await late.locator('#join_error').filter({ hasText: '(locked)' }).waitFor();
    assert.match(await late.locator('#join_error').innerText(), /locked/);
    // The moderator is told who knocked, and hears it; a participant is not.
    const knock = chair.locator('#knock');
    await knock.filter({ hasText: 'Late could not join: the conference is locked.' }).waitFor();
    await heard(chair, 'knock');
    await accessible(chair, 'the room with a notice of who was turned away');
    // The others heard the lock; the one who locked did not hear it back.
    await heard(bob, 'locked');
    assert.equal(await timesPlayed(chair, 'locked'), 0);
    assert.equal(await bob.locator('#knock').count(), 0);
    assert.equal(await timesPlayed(bob, 'knock'), 0);
    // Bob turns the sounds off (from the keyboard): he hears no more cues.
    await bob.getByRole('button', { name: 'Sounds' }).focus();
    await bob.keyboard.press('Enter');
    assert.equal(await bob.getByRole('button', { name: 'Sounds' }).getAttribute('aria-pressed'), 'false');
    const bobHeard = await bob.evaluate(() => /** @type {any} */ (window).__tones.length);
    // The moderator PIN still enters, on the same connection.
    await late.getByLabel('Moderator PIN').fill(line.pin);
    await late.getByRole('button', { name: 'Join' }).click();
    await late.locator('#room').waitFor({ state: 'visible' });
    await heard(chair, 'joined', 3);

    // The notice's own button unlocks, and goes with the lock.
    await knock.getByRole('button', { name: 'Unlock' }).click();
    await bob.locator('#locked').waitFor({ state: 'hidden' });
    await heard(cy, 'unlocked');
    await knock.getByRole('button', { name: 'Unlock' }).waitFor({ state: 'detached' });
    await knock.getByRole('button', { name: 'Dismiss' }).click();
    await knock.waitFor({ state: 'detached' });
    assert.equal(await bob.evaluate(() => /** @type {any} */ (window).__tones.length), bobHeard, 'Bob turned his sounds off');
  });
});

test('the moderator removes and blocks a participant from the list (on a phone-sized page); they see why and cannot return', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    // On a phone: the moderator works the list at 390 px.
    const chair = await pages.open('chair', server.url('/'), { viewport: { width: 390, height: 844 } });
    await joinRoom(chair, { ...line, name: 'Chair' });
    const troll = await pages.open('troll', server.url('/'));
    await joinRoom(troll, { ...line, pin: '', name: 'Troll' });

    const row = chair.locator('#participants li', { hasText: 'Troll' });
    await row.getByRole('button', { name: 'Actions for Troll' }).click();
    await row.getByRole('button', { name: 'Remove and block…' }).click();
    // Nothing happens before the confirmation.
    await row.getByText('They cannot come back').waitFor();
    assert.equal(await chair.locator('#participants li').count(), 2);
    await row.getByRole('button', { name: 'Remove and block', exact: true }).click();

    await troll.locator('#closed').filter({ hasText: 'blocked you from coming back' }).waitFor();
    await heard(troll, 'removed');
    await chair.locator('#participants li', { hasText: 'Troll' }).waitFor({ state: 'detached' });

    // The same browser, after a reload, is refused.
    await troll.reload();
    await fillJoin(troll, { ...line, pin: '', name: 'Troll again' });
    await troll.locator('#join_error').filter({ hasText: '(blocked)' }).waitFor();

    // The cog lists the block; unblocking lets the browser back in.
    await chair.getByRole('button', { name: 'Settings' }).click();
    await chair.getByRole('button', { name: 'Unblock Troll' }).click();
    await chair.locator('#no_blocks').waitFor();
    await troll.getByRole('button', { name: 'Join' }).click();
    await troll.locator('#room').waitFor({ state: 'visible' });

    // Blocked while away: the page's resume is refused, and it says why.
    // Offline, its reconnection attempts fail (Chromium logs each one).
    pages.expectConsoleError(/WebSocket connection to .* failed/);
    await troll.context().setOffline(true);
    await troll.evaluate(() => /** @type {any} */ (window).conclave.dropConnection());
    await troll.locator('#resuming').waitFor({ state: 'visible' });
    const away = chair.locator('#participants li', { hasText: 'Troll again' });
    await away.getByRole('button', { name: 'Actions for Troll again' }).click();
    await away.getByRole('button', { name: 'Remove and block…' }).click();
    await away.getByRole('button', { name: 'Remove and block', exact: true }).click();
    await away.waitFor({ state: 'detached' });
    await troll.context().setOffline(false);
    await troll.locator('#closed').filter({ hasText: 'blocked you from coming back' }).waitFor({ timeout: 15_000 });
    assert.equal(await troll.locator('#room').isVisible(), false);
    await heard(troll, 'removed'); // since the reload
  });
});

test('chat for moderators only: the participant sees why the send is disabled, and a forced send is refused', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    // On a phone: the participant reads why at 390 px.
    const bob = await pages.open('bob', server.url('/'), { viewport: { width: 390, height: 844 } });
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });

    await chair.getByRole('button', { name: 'Settings' }).click();
    await chair.getByLabel('Who may chat').selectOption('moderators');
    await bob.getByText('Only moderators may post').waitFor();
    assert.equal(await bob.getByLabel('Message').isDisabled(), true);
    await chair.getByLabel('Message').fill('<b>not bold</b>');
    await chair.getByRole('button', { name: 'Send' }).click();
    // Text stays text: the markup arrives as characters.
    await bob.locator('#chat li', { hasText: '<b>not bold</b>' }).waitFor();
    assert.equal(await bob.locator('#chat li b b').count(), 0);

    // Forced past the page, the server refuses: the page says so, and
    // nobody receives it.
    await bob.evaluate(() => document.querySelectorAll('#chat_form [disabled]').forEach((el) => el.removeAttribute('disabled')));
    await bob.getByLabel('Message').fill('forced');
    await bob.getByRole('button', { name: 'Send' }).click();
    await bob.locator('#room_error').getByText('(not_permitted)').waitFor();
    await chair.waitForTimeout(500);
    assert.equal(await chair.locator('#chat li', { hasText: 'forced' }).count(), 0);
    assert.equal(await bob.locator('#chat li', { hasText: 'forced' }).count(), 0);

    await chair.getByLabel('Who may chat').selectOption('everyone');
    await bob.getByLabel('Message').fill('thanks');
    await bob.getByRole('button', { name: 'Send' }).click();
    await chair.locator('#chat li', { hasText: 'thanks' }).waitFor();
  });
});

test('a page whose WebSocket drops takes its seat back, and the others never see it leave', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const bob = await pages.open('bob', server.url('/'));
    await joinRoom(bob, { ...line, pin: '', name: 'Bob' });
    await chair.locator('#participants li', { hasText: 'Bob' }).waitFor();
    // Count what the chair's list shows while Bob is away.
    await chair.evaluate(() => {
      // @ts-ignore: a test marker
      window.minimum = 2;
      const list = /** @type {Element} */ (document.getElementById('participants'));
      new MutationObserver(() => {
        // @ts-ignore: a test marker
        window.minimum = Math.min(window.minimum, list.querySelectorAll('li').length);
      }).observe(list, { childList: true, subtree: true });
    });

    await bob.evaluate(() => /** @type {any} */ (window).conclave.dropConnection());
    await bob.locator('#resuming').waitFor({ state: 'visible' });
    await bob.locator('#resuming').waitFor({ state: 'hidden', timeout: 15_000 });
    assert.equal(await bob.locator('#room').isVisible(), true);
    // Heard going and coming back; the chair heard nobody leave.
    await heard(bob, 'resuming');
    await heard(bob, 'resumed');
    assert.equal(await timesPlayed(chair, 'left'), 0);

    // Still seated: the chair's request reaches Bob's seat.
    const row = chair.locator('#participants li', { hasText: 'Bob' });
    await row.getByRole('button', { name: 'Actions for Bob' }).click();
    await row.getByRole('button', { name: 'Mute' }).click();
    await bob.locator('#participants li', { hasText: 'Bob' }).getByText('muted').waitFor();
    assert.equal(await chair.evaluate(() => /** @type {any} */ (window).minimum), 2, 'Bob never left the list');
  });
});

test('through the server, media comes back after a page resumes its seat', async (t) => {
  await withPages(browser, t, async (pages) => {
    const line = await lineWithSecurity(server.base);
    const chair = await pages.open('chair', server.url('/'));
    await joinRoom(chair, { ...line, name: 'Chair' });
    const others = [];
    for (const name of ['Bob', 'Cy']) {
      const page = await pages.open(name.toLowerCase(), server.url('/'));
      await joinRoom(page, { ...line, pin: '', name });
      others.push(page);
    }
    const [bob, cy] = others;
    for (const page of [chair, bob, cy]) await decodesVideo(page, 2);

    /**
     * The video track on a page's tile for Bob, and the frames it showed.
     * @param {import('playwright-core').Page} page
     */
    const bobsTile = (page) =>
      page.evaluate(() => {
        const tile = [...document.querySelectorAll('.tile')].find((el) => el.querySelector('figcaption')?.textContent?.startsWith('Bob'));
        const video = /** @type {HTMLVideoElement | undefined} */ (tile?.querySelector('video'));
        const stream = /** @type {MediaStream | null | undefined} */ (video?.srcObject);
        return { track: stream?.getVideoTracks()[0]?.id || '', frames: video ? video.getVideoPlaybackQuality().totalVideoFrames : 0 };
      });
    const before = await bobsTile(chair);
    assert.ok(before.track, "the chair shows Bob's camera");

    await bob.evaluate(() => /** @type {any} */ (window).conclave.dropConnection());
    await bob.locator('#resuming').waitFor({ state: 'visible' });
    await bob.locator('#resuming').waitFor({ state: 'hidden', timeout: 15_000 });
    // Bob's page publishes again and receives both others on a new connection...
    await decodesVideo(bob, 2);
    // ...and the others' tiles for Bob play again (his old connection is
    // closed: the frames can only come from what he publishes now).
    for (const page of [chair, cy]) {
      const deadline = Date.now() + 45_000;
      let now = await bobsTile(page);
      const shown = now.frames;
      for (; !now.track || now.frames < shown + 30; now = await bobsTile(page)) {
        if (Date.now() > deadline) throw new Error(`${now.frames - shown} frames of Bob's new track shown`);
        await page.waitForTimeout(250);
      }
    }
  });
});

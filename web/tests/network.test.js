// Media on networks that are not a perfect loopback. Each test puts one
// Chromium in a network namespace of its own (netns.js) whose link the
// kernel filters, and meets another Chromium on this host through the
// server: a network that drops all UDP (and reaches no TURN server)
// reaches the room over ICE-TCP, one that allows only TCP to the TURN
// server (and the web server) gets its media through coturn. One server
// and one coturn serve the file.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinRoom, launchBrowser, lineWithSecurity, metric, startServer, withPages } from './harness.js';
import { Namespace, requireRoot } from './netns.js';

const TURN_SECRET = 'network-test-turn-secret-0123456789';

/** @type {Namespace} */
let udpless;
/** @type {Namespace} */
let turnOnly;
/** @type {Awaited<ReturnType<typeof startServer>>} */
let server;
/** @type {import('node:child_process').ChildProcess} */
let coturn;
let turnPort = 0;
let turnDir = '';
/** @type {import('playwright-core').Browser[]} */
const browsers = [];

/**
 * A browser that treats the server's plain-HTTP origin as secure, as it
 * treats localhost: the camera needs a secure context, and the server is
 * reached on the namespace link's address.
 * @param {string} [executablePath]
 */
async function browser(executablePath) {
  const b = await launchBrowser({ executablePath, args: [`--unsafely-treat-insecure-origin-as-secure=${server.base}`] });
  browsers.push(b);
  return b;
}

before(async () => {
  requireRoot();
  udpless = new Namespace(0);
  turnOnly = new Namespace(1);
  // The server listens on the first link's host end, which the host and
  // both namespaces reach (the host routes between its links).
  turnPort = 34000 + (process.pid % 1000);
  const host = udpless.hostIp;
  server = await startServer(
    ['peer_to_peer = false', '[media.turn]', `urls = ["turn:${host}:${turnPort}?transport=tcp"]`, `secret = "${TURN_SECRET}"`],
    { host },
  );
  for (const ns of [udpless, turnOnly]) ns.exec('ip', ['route', 'add', 'default', 'via', ns.hostIp]);
  turnDir = mkdtempSync(join(tmpdir(), 'conclave-coturn-'));
  coturn = spawn(
    'turnserver',
    [
      ...['--listening-ip', host, '--relay-ip', host, '--listening-port', String(turnPort)],
      ...['--min-port', '61000', '--max-port', '61999'],
      ...['--use-auth-secret', '--static-auth-secret', TURN_SECRET, '--realm', 'conclave.test'],
      ...['--no-tls', '--no-dtls', '--no-cli', '--no-multicast-peers'],
      ...['--pidfile', join(turnDir, 'turn.pid'), '--db', join(turnDir, 'turndb'), '--log-file', 'stdout', '--simple-log'],
    ],
    { stdio: 'ignore' },
  );
  await new Promise((r) => setTimeout(r, 500));
  // No UDP, and no TURN either: ICE-TCP is the only way in.
  udpless.blockUdp([turnPort]);
  const port = Number(new URL(server.base).port);
  turnOnly.onlyTcpTo([port, turnPort]);
});

after(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  await server?.stop();
  coturn?.kill('SIGTERM');
  if (turnDir) rmSync(turnDir, { recursive: true, force: true });
  udpless?.close();
  turnOnly?.close();
});

/**
 * Frames the page decoded of the other participant's camera, over its
 * subscribe connection.
 * @param {import('playwright-core').Page} page
 */
async function decodedVideo(page) {
  // @ts-ignore: the page's diagnostics
  const stats = await page.evaluate(() => window.conclave.stats());
  return stats.inbound
    .filter((/** @type {any} */ x) => x.pc === 'subscribe' && x.kind === 'video')
    .reduce((/** @type {number} */ n, /** @type {any} */ x) => n + x.frames, 0);
}

/**
 * Waits until both pages decode each other's video; answers the path the
 * page inside the namespace took, per connection.
 * @param {import('playwright-core').Page} inside
 * @param {import('playwright-core').Page} outside
 */
async function meetAndDecode(inside, outside) {
  const deadline = Date.now() + 45_000;
  for (;;) {
    const [a, b] = [await decodedVideo(inside), await decodedVideo(outside)];
    if (a > 10 && b > 10) break;
    if (Date.now() > deadline) {
      // @ts-ignore: the page's diagnostics
      const why = await inside.evaluate(() => window.conclave.connections());
      throw new Error(`no video both ways: inside decoded ${a}, outside ${b}; inside's connections ${JSON.stringify(why)}`);
    }
    await inside.waitForTimeout(500);
  }
  // @ts-ignore: the page's diagnostics
  return inside.evaluate(() => window.conclave.paths());
}

/**
 * A page on the host and a page inside `ns` meet in a new room and decode
 * each other's video; answers the paths the inside page's connections
 * took.
 * @param {import('node:test').TestContext} t
 * @param {Namespace} ns
 * @param {() => Promise<unknown>} [during] run while both pages are in
 */
async function meetFrom(t, ns, during) {
  const line = await lineWithSecurity(server.base);
  const outsideBrowser = await browser();
  const insideBrowser = await browser(ns.chromium());
  /** @type {Record<string, {protocol: string, type: string, relayProtocol: string} | null>} */
  let paths = {};
  await withPages(outsideBrowser, t, async (outsidePages) => {
    await withPages(insideBrowser, t, async (insidePages) => {
      const outside = await outsidePages.open('host', server.base);
      await joinRoom(outside, { ...line, name: 'Host' });
      const inside = await insidePages.open(ns.name, server.base);
      await joinRoom(inside, { ...line, pin: '', name: 'Inside' });
      paths = await meetAndDecode(inside, outside);
      if (during) await during();
    });
  });
  return paths;
}

test('a page on a network that drops all UDP reaches the room over ICE-TCP and decodes video', async (t) => {
  /** @type {number[]} */
  const open = [];
  const paths = await meetFrom(t, udpless, async () => open.push(await metric(server.base, 'conclave_media_tcp{measure="open"}')));
  assert.ok(open[0] >= 2, `both its connections are open on the ICE-TCP port (/metrics): ${open}`);
  for (const pc of ['publish', 'subscribe']) {
    assert.equal(paths[pc]?.protocol, 'tcp', `${pc} runs over TCP: ${JSON.stringify(paths)}`);
    // Chromium's active TCP candidate learns its port from the server's
    // answer to its check: peer-reflexive, never a relay.
    assert.notEqual(paths[pc]?.type, 'relay', `${pc} is direct, not relayed: ${JSON.stringify(paths)}`);
  }
});

test('a page whose network allows only TCP to the TURN server gets its media through TURN', async (t) => {
  const paths = await meetFrom(t, turnOnly);
  for (const pc of ['publish', 'subscribe']) {
    assert.equal(paths[pc]?.type, 'relay', `${pc} goes through TURN: ${JSON.stringify(paths)}`);
    assert.equal(paths[pc]?.relayProtocol, 'tcp', `${pc} reaches TURN over TCP: ${JSON.stringify(paths)}`);
  }
});

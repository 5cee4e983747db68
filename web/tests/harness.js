// What the browser tests share: a real Conclave server (the binary cargo
// built) on a free port with a throwaway data directory, Debian's Chromium
// driven by playwright-core, pages that fail their test on any console
// error, and a screenshot plus console log of each page when a test fails.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { GATEWAY_SECRET } from './gateway.js';
import { CUES } from '../app/sounds.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Where failing tests leave their screenshots and console logs. */
export const ARTIFACTS = resolve(here, '../../target/web-test-artifacts');

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address());
      s.close(() => ok(port));
    });
  });
}

/**
 * Starts the server binary; `stop()` ends it and removes its data.
 * @param {string[]} [extra] more lines for its TOML configuration (tables after `[media]`)
 * @param {{host?: string}} [where] the address it listens on, HTTP and media
 *   (a network test's host end of a veth pair)
 */
export async function startServer(extra = [], where = {}) {
  const host = where.host || '127.0.0.1';
  // Where cargo put it: CI may point CARGO_TARGET_DIR outside the clone
  // (relative paths are the repository root's, where scripts/test runs cargo).
  const root = resolve(here, '../..');
  const targets = process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : resolve(root, 'target');
  const bin = process.env.CONCLAVE_BIN || resolve(targets, 'debug/conclave');
  const dir = mkdtempSync(join(tmpdir(), 'conclave-web-'));
  const port = await freePort();
  const config = join(dir, 'conclave.toml');
  writeFileSync(
    config,
    [
      `bind = "${host}:${port}"`,
      `data_dir = "${join(dir, 'data')}"`,
      // A phone caller dials in through the test's own gateway (gateway.js).
      `gateway_secret = "${GATEWAY_SECRET}"`,
      '[media]',
      `bind_ip = "${host}"`,
      'port_min = 46000',
      'port_max = 46999',
      ...extra,
    ].join('\n'),
  );
  const child = spawn(bin, ['--config', config, '--log-format', 'json'], {
    stdio: ['ignore', process.env.CONCLAVE_TEST_LOG ? 'pipe' : 'ignore', 'pipe'],
    // CONCLAVE_TEST_LOG=conclave_media=debug (say) keeps the server's log
    // in the artifacts, for a failure to be read.
    env: { ...process.env, RUST_LOG: process.env.CONCLAVE_TEST_LOG || 'warn' },
  });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  child.stdout?.on('data', (d) => (log += d));
  const base = `http://${host}:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${bin} exited: ${log}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${bin} never answered: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    /** @param {string} path */
    url: (path) => `${base}${path}`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      if (process.env.CONCLAVE_TEST_LOG) {
        mkdirSync(ARTIFACTS, { recursive: true });
        writeFileSync(join(ARTIFACTS, `server-${port}.log`), log);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Signs up an account with a default security code: its line's access
 * code and moderator PIN.
 * @param {string} base
 */
export async function lineWithSecurity(base) {
  const email = `user-${crypto.randomUUID()}@example.org`;
  const res = await fetch(`${base}/api/v1/accounts`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password: 'correct horse battery', display_name: 'Ada' }),
  });
  const body = await res.json();
  if (res.status !== 201) throw new Error(`sign-up: ${res.status} ${JSON.stringify(body)}`);
  const token = body.session.token;
  const put = await fetch(`${base}/api/v1/account/default-security-code`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ security_code: '2468' }),
  });
  if (put.status !== 204) throw new Error(`security code: ${put.status}`);
  return { code: body.line.access_code, pin: body.moderator_pin, securityCode: '2468', token };
}

/** The Chromium the tests drive: CONCLAVE_CHROMIUM, or Debian's on PATH. */
export function chromiumPath() {
  const executablePath = process.env.CONCLAVE_CHROMIUM || 'chromium';
  return executablePath.includes('/') ? executablePath : which(executablePath);
}

/**
 * Debian's Chromium headless, with the fake camera and microphone.
 * @param {{executablePath?: string, args?: string[]}} [how] another
 *   executable (a network test's wrapper that runs Chromium in its
 *   namespace) and more arguments
 */
export function launchBrowser(how = {}) {
  return chromium.launch({
    executablePath: how.executablePath || chromiumPath(),
    args: [
      ...(how.args || []),
      // Tests run as root in CI, where Chromium's sandbox will not start.
      '--no-sandbox',
      '--disable-gpu',
      '--mute-audio',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--allow-loopback-in-peer-connection',
    ],
  });
}

/** @param {string} name */
function which(name) {
  for (const dir of (process.env.PATH || '').split(':')) {
    const path = join(dir, name);
    try {
      if (statIsFile(path)) return path;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} is not on PATH: scripts/test installs it, or set CONCLAVE_CHROMIUM`);
}

/** @param {string} path */
function statIsFile(path) {
  return statSync(path).isFile();
}

/**
 * Runs in each page before its scripts: every tone the page's sounds start
 * is noted (its frequency) in `window.__tones`, so a test can tell which
 * cues a page played. Chromium runs muted; Web Audio works all the same.
 */
function recordTones() {
  const Base = window.AudioContext;
  if (!Base) return;
  /** @type {number[]} */
  const tones = [];
  // @ts-ignore: a test's own property
  window.__tones = tones;
  window.AudioContext = class extends Base {
    createOscillator() {
      const tone = super.createOscillator();
      const start = tone.start.bind(tone);
      tone.start = (/** @type {number | undefined} */ when) => {
        tones.push(tone.frequency.value);
        start(when);
      };
      return tone;
    }
  };
}

/**
 * How many times the page played `cue` (sounds.js), by its notes in order.
 * @param {import('playwright-core').Page} page
 * @param {import('../app/sounds.js').Cue} cue
 */
export async function timesPlayed(page, cue) {
  // @ts-ignore: recorded by recordTones
  const tones = /** @type {number[]} */ (await page.evaluate(() => window.__tones || []));
  const notes = CUES[cue].map(([f]) => f);
  let n = 0;
  for (let i = 0; i + notes.length <= tones.length; i++) {
    if (notes.every((f, j) => tones[i + j] === f)) n++;
  }
  return n;
}

/**
 * Waits until the page has played `cue` at least `times` times.
 * @param {import('playwright-core').Page} page
 * @param {import('../app/sounds.js').Cue} cue
 */
export async function heard(page, cue, times = 1) {
  const deadline = Date.now() + 10_000;
  while ((await timesPlayed(page, cue)) < times) {
    if (Date.now() > deadline) throw new Error(`the page did not play "${cue}" ${times} time(s) within 10 s`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/**
 * Pages of one test: each in its own browser context (its own cookies, as
 * a separate person's browser), each failing the test on a console error
 * or an uncaught exception, each saved on failure.
 */
export class Pages {
  /** @param {import('playwright-core').Browser} browser */
  constructor(browser) {
    this.browser = browser;
    /** @type {{name: string, page: import('playwright-core').Page, log: string[], errors: string[]}[]} */
    this.pages = [];
    /** @type {RegExp[]} console errors a test provokes on purpose */
    this.expected = [];
  }

  /**
   * A console error the test provokes on purpose (Chromium logs every
   * refused request, such as a forced upload's 403) is not a failure.
   * @param {RegExp} pattern
   */
  expectConsoleError(pattern) {
    this.expected.push(pattern);
  }

  /**
   * @param {string} name for the artifacts
   * @param {string} url
   * @param {import('playwright-core').BrowserContextOptions} [options]
   */
  async open(name, url, options = {}) {
    const context = await this.browser.newContext(options);
    await context.addInitScript(recordTones);
    const page = await context.newPage();
    /** @type {string[]} */
    const log = [];
    /** @type {string[]} */
    const errors = [];
    page.on('console', (m) => {
      log.push(`[${m.type()}] ${m.text()}`);
      if (m.type() === 'error') errors.push(m.text());
    });
    // The console names no URL for a failed load: the log does.
    page.on('response', (r) => {
      if (r.status() >= 400) log.push(`[http ${r.status()}] ${r.url()}`);
    });
    page.on('pageerror', (e) => {
      log.push(`[pageerror] ${e.message}`);
      errors.push(e.message);
    });
    this.pages.push({ name, page, log, errors });
    await page.goto(url);
    return page;
  }

  /**
   * Drops the console errors a test provoked on purpose (Chromium logs
   * every refused fetch); answers how many matched.
   * @param {RegExp} pattern
   */
  forgive(pattern) {
    let n = 0;
    for (const p of this.pages) {
      // In place: the page's listeners keep pushing to this array.
      const kept = p.errors.filter((e) => !pattern.test(e));
      n += p.errors.length - kept.length;
      p.errors.splice(0, p.errors.length, ...kept);
    }
    return n;
  }

  /** Fails if any page logged an error. */
  assertNoConsoleErrors() {
    const unexpected = (/** @type {string[]} */ errors) => errors.filter((e) => !this.expected.some((x) => x.test(e)));
    const bad = this.pages.filter((p) => unexpected(p.errors).length > 0).map((p) => `${p.name}: ${unexpected(p.errors).join(' | ')}`);
    if (bad.length > 0) throw new Error(`console errors: ${bad.join('; ')}`);
  }

  /**
   * Closes the pages; after a failure, saves each page's screenshot and
   * console log first.
   * @param {import('node:test').TestContext} t
   * @param {boolean} failed
   */
  async close(t, failed) {
    if (failed) {
      const dir = join(ARTIFACTS, t.name.replace(/[^a-z0-9]+/gi, '_'));
      mkdirSync(dir, { recursive: true });
      for (const p of this.pages) {
        await p.page.screenshot({ path: join(dir, `${p.name}.png`), fullPage: true }).catch(() => {});
        writeFileSync(join(dir, `${p.name}.console.log`), p.log.join('\n'));
      }
      t.diagnostic(`screenshots and console logs in ${dir}`);
    }
    for (const p of this.pages) await p.page.context().close();
    this.pages = [];
  }
}

/**
 * Runs `body` with fresh pages, saving them if it throws, and checking
 * that no page logged an error if it does not.
 * @param {import('playwright-core').Browser} browser
 * @param {import('node:test').TestContext} t
 * @param {(pages: Pages) => Promise<void>} body
 */
export async function withPages(browser, t, body) {
  const pages = new Pages(browser);
  let failed = true;
  try {
    await body(pages);
    pages.assertNoConsoleErrors();
    failed = false;
  } finally {
    await pages.close(t, failed);
  }
}

/**
 * One series of the server's /metrics (`conclave_media_tcp{measure="open"}`),
 * 0 when it is not there.
 * @param {string} base
 * @param {string} series
 */
export async function metric(base, series) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/**
 * What the page's subscribe connection received of the video on `name`'s
 * tile: packets, decoded frames and their height.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export async function tileVideo(page, name) {
  return page.evaluate(async (who) => {
    const tile = [...document.querySelectorAll('.tile')].find((el) => el.querySelector('figcaption')?.textContent?.startsWith(who));
    const stream = /** @type {MediaStream | null | undefined} */ (tile?.querySelector('video')?.srcObject);
    const track = stream?.getVideoTracks()[0]?.id;
    // @ts-ignore: the page's diagnostics
    const stats = await window.conclave.stats();
    const r = stats.inbound.find((/** @type {any} */ x) => x.pc === 'subscribe' && x.kind === 'video' && x.track === track);
    return { packets: r ? r.packets : 0, frames: r ? r.frames : 0, height: r ? r.height : 0 };
  }, name);
}

/**
 * Fills the join form and joins, as a person would.
 * @param {import('playwright-core').Page} page
 * @param {{code: string, securityCode?: string, pin?: string, name: string}} who
 */
/**
 * Signs up on the account page as `name` and waits for the line; answers
 * its access code.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export async function signUpForLine(page, name) {
  const form = page.locator('#sign_up');
  await form.getByLabel('Your name').fill(name);
  await form.getByLabel('E-mail').fill(`${name.toLowerCase()}-${crypto.randomUUID()}@example.org`);
  await form.getByLabel('Password').fill('correct horse battery');
  await form.getByRole('button', { name: 'Create the account' }).click();
  await page.locator('#line_access_code').waitFor();
  return (await page.locator('#line_access_code').innerText()).trim();
}

export async function fillJoin(page, who) {
  await page.getByLabel('Access code').fill(who.code);
  await page.getByLabel('Security code').fill(who.securityCode || '');
  await page.getByLabel('Moderator PIN').fill(who.pin || '');
  await page.getByLabel('Your name').fill(who.name);
  await page.getByRole('button', { name: 'Join' }).click();
}

/**
 * Fills the join form and waits for the room.
 * @param {import('playwright-core').Page} page
 * @param {{code: string, securityCode?: string, pin?: string, name: string}} who
 */
export async function joinRoom(page, who) {
  await fillJoin(page, who);
  await page.locator('#room').waitFor({ state: 'visible' });
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Serious and critical accessibility violations on the page as it is now.
 * axe is evaluated over DevTools, which the page's CSP does not govern.
 * @param {import('playwright-core').Page} page
 */
export async function axeViolations(page) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    // @ts-ignore: axe was just evaluated into the page
    const result = await window.axe.run(document);
    return result.violations.map((/** @type {any} */ v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * No serious or critical axe-core violations, at 1280 and at 390 px.
 * @param {import('playwright-core').Page} page
 * @param {string} what
 */
export async function accessible(page, what) {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    assert.deepEqual(await axeViolations(page), [], `${what} at ${width} px`);
    // Nothing wider than the window: usable without sideways scrolling.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${what} at ${width} px is ${overflow} px too wide`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

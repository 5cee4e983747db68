// Real networks for the browser tests: a network namespace joined to this
// host by a veth pair (or by two TUN devices and a delay line), whose traffic the kernel filters (nftables) and
// limits (tc, an HTB class), and a Chromium that runs inside it. Nothing leaves the
// pair: the namespace has no other link and no route out.
//
// Namespaces need root, which CI has (scripts/test runs as root there).

import { execFileSync, spawn } from 'node:child_process';
import { after, before } from 'node:test';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumPath, launchBrowser, startServer } from './harness.js';

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} [input]
 */
function run(cmd, args, input) {
  try {
    return execFileSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  } catch (e) {
    const err = /** @type {{stderr?: Buffer}} */ (e);
    throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr ? err.stderr.toString() : e}`);
  }
}

/** Fails at once, and says why, where namespaces cannot be made. */
export function requireRoot() {
  if (process.getuid && process.getuid() !== 0) {
    throw new Error('the network tests build network namespaces, which needs root: run scripts/test as root (CI does)');
  }
}

export class Namespace {
  /**
   * A namespace and its link to the host: `hostIp` on this side,
   * `ip` inside, a /24 of its own.
   * @param {number} index which of this run's namespaces (0 to 9)
   */
  constructor(index, link = 'veth') {
    requireRoot();
    // Names and subnets of this process's own, so two runs side by side
    // (a developer's and CI's) never meet.
    const tag = `${process.pid % 100000}${index}`;
    this.name = `cnc${tag}`;
    this.hostIf = `cnh${tag}`;
    this.inIf = `cni${tag}`;
    const net = `10.${100 + (process.pid % 100)}.${200 + index}`;
    this.hostIp = `${net}.1`;
    this.ip = `${net}.2`;
    this.dir = mkdtempSync(join(tmpdir(), 'conclave-netns-'));
    /** @type {import('node:child_process').ChildProcess | null} the delay line, for a TUN link */
    this.line = null;
    this.remove();
    run('ip', ['netns', 'add', this.name]);
    if (link === 'tun') {
      // Two ends with no wire between them until the delay line carries
      // packets across (lossy()).
      run('ip', ['tuntap', 'add', 'dev', this.hostIf, 'mode', 'tun']);
      this.exec('ip', ['tuntap', 'add', 'dev', this.inIf, 'mode', 'tun']);
    } else {
      run('ip', ['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', this.inIf]);
      run('ip', ['link', 'set', this.inIf, 'netns', this.name]);
    }
    // No IPv6 on the link: its addresses would come a moment after the
    // link is up, and a browser already running takes that as its network
    // changing (requests under way fail with ERR_NETWORK_CHANGED).
    run('sysctl', ['-q', '-w', `net.ipv6.conf.${this.hostIf}.disable_ipv6=1`]);
    this.exec('sysctl', ['-q', '-w', `net.ipv6.conf.${this.inIf}.disable_ipv6=1`]);
    const [hostAddr, inAddr] =
      link === 'tun'
        ? [
            [this.hostIp, 'peer', this.ip],
            [this.ip, 'peer', this.hostIp],
          ]
        : [[`${this.hostIp}/24`], [`${this.ip}/24`]];
    run('ip', ['addr', 'add', ...hostAddr, 'dev', this.hostIf]);
    run('ip', ['link', 'set', this.hostIf, 'up']);
    this.exec('ip', ['addr', 'add', ...inAddr, 'dev', this.inIf]);
    this.exec('ip', ['link', 'set', this.inIf, 'up']);
    this.exec('ip', ['link', 'set', 'lo', 'up']);
  }

  /**
   * A namespace whose link delays every packet by `delayMs`, each way,
   * and loses `lossPercent` of them at random, each way: a user-space
   * delay line between two TUN devices (delay_line.py), as this kernel
   * has no netem.
   * @param {number} index
   * @param {number} delayMs
   * @param {number} lossPercent
   */
  static async lossy(index, delayMs, lossPercent) {
    const ns = new Namespace(index, 'tun');
    const script = fileURLToPath(new URL('./delay_line.py', import.meta.url));
    const line = spawn('python3', [script, ns.hostIf, ns.name, ns.inIf, String(delayMs), String(lossPercent)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    ns.line = line;
    await new Promise((resolve, reject) => {
      line.once('exit', (code) => reject(new Error(`the delay line stopped (${code})`)));
      line.stdout?.once('data', resolve);
    });
    return ns;
  }

  /**
   * Changes a lossy link's delay and loss.
   * @param {number} delayMs
   * @param {number} lossPercent
   */
  impair(delayMs, lossPercent) {
    this.line?.stdin?.write(`${delayMs} ${lossPercent}\n`);
  }

  /**
   * Runs a command inside the namespace.
   * @param {string} cmd
   * @param {string[]} args
   * @param {string} [input]
   */
  exec(cmd, args, input) {
    return run('ip', ['netns', 'exec', this.name, cmd, ...args], input);
  }

  /**
   * Drops every UDP datagram on the namespace's link, both ways, and TCP
   * to `tcpPorts` (a TURN server's, so that only ICE-TCP is left; or a
   * range, `'46000-46999'`).
   * @param {(number | string)[]} [tcpPorts]
   */
  blockUdp(tcpPorts = []) {
    const tcp = tcpPorts.length > 0 ? [`tcp dport { ${tcpPorts.join(', ')} } drop`] : [];
    this.filter([`meta l4proto udp drop`, ...tcp], [`meta l4proto udp drop`]);
  }

  /**
   * Lets only TCP connections to `ports` (on the host end) through, both
   * ways; drops everything else, UDP included.
   * @param {number[]} ports
   */
  onlyTcpTo(ports) {
    this.filter(
      ['ct state established,related accept', `tcp dport { ${ports.join(', ')} } accept`, 'drop'],
      ['ct state established,related accept', 'drop'],
    );
  }

  /** Takes away what blockUdp, onlyTcpTo or filter put on the link. */
  unfilter() {
    this.exec('nft', ['delete', 'table', 'inet', 'conclave_test']);
  }

  /**
   * nftables rules on the namespace's link: `out` for what leaves it,
   * `into` for what arrives.
   * @param {string[]} out
   * @param {string[]} into
   */
  filter(out, into) {
    const rules = [
      'table inet conclave_test {',
      '  chain out {',
      '    type filter hook output priority 0; policy accept;',
      ...out.map((r) => `    oifname "${this.inIf}" ${r}`),
      '  }',
      '  chain into {',
      '    type filter hook input priority 0; policy accept;',
      ...into.map((r) => `    iifname "${this.inIf}" ${r}`),
      '  }',
      '}',
    ].join('\n');
    this.exec('nft', ['-f', '-'], rules);
  }

  /**
   * Limits what leaves the host towards the namespace (what a browser
   * inside receives) to `rate` (tc's words: `400kbit`), queueing the rest
   * as a slow link's router does; `null` lifts it. An HTB class: this
   * kernel has no netem.
   * @param {string | null} rate
   */
  limit(rate) {
    try {
      run('tc', ['qdisc', 'del', 'dev', this.hostIf, 'root']);
    } catch {
      // nothing was limiting it
    }
    if (rate === null) return;
    run('tc', ['qdisc', 'add', 'dev', this.hostIf, 'root', 'handle', '1:', 'htb', 'default', '10']);
    run('tc', ['class', 'add', 'dev', this.hostIf, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', rate, 'ceil', rate]);
    // A queue of a slow link's size (about a second at 400 kbit/s), not
    // the interface's thousand packets: what does not fit is lost.
    run('tc', ['qdisc', 'add', 'dev', this.hostIf, 'parent', '1:10', 'handle', '10:', 'pfifo', 'limit', '50']);
  }

  /** An executable that runs Chromium inside the namespace, for launchBrowser. */
  chromium() {
    const path = join(this.dir, 'chromium');
    writeFileSync(path, `#!/bin/sh\nexec ip netns exec ${this.name} ${chromiumPath()} "$@"\n`);
    chmodSync(path, 0o755);
    return path;
  }

  /** Removes the namespace and its link (the veth pair goes with it). */
  remove() {
    this.line?.stdin?.end();
    this.line?.kill();
    this.line = null;
    try {
      run('ip', ['netns', 'del', this.name]);
    } catch {
      // not there
    }
    try {
      run('ip', ['link', 'del', this.hostIf]);
    } catch {
      // went with the namespace
    }
  }

  close() {
    this.remove();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * For a test file: before its tests, the namespace `make` builds, a
 * server (peer to peer off) on its host end, which the host reaches too,
 * with the namespace routed to it, and two browsers, `browsers[0]` on this
 * host and `browsers[1]` inside the namespace; after them, all of it ends.
 * The camera needs a secure context: each browser takes the server's
 * plain-HTTP origin as one, as it would localhost.
 * @param {() => Namespace | Promise<Namespace>} make
 */
export function acrossTheLink(make) {
  const room = {
    ns: /** @type {Namespace} */ (/** @type {unknown} */ (null)),
    server: /** @type {Awaited<ReturnType<typeof startServer>>} */ (/** @type {unknown} */ (null)),
    /** @type {import('playwright-core').Browser[]} */
    browsers: [],
  };
  before(async () => {
    requireRoot();
    room.ns = await make();
    room.server = await startServer(['peer_to_peer = false'], { host: room.ns.hostIp });
    room.ns.exec('ip', ['route', 'add', 'default', 'via', room.ns.hostIp]);
    for (const executablePath of [undefined, room.ns.chromium()]) {
      room.browsers.push(await launchBrowser({ executablePath, args: [`--unsafely-treat-insecure-origin-as-secure=${room.server.base}`] }));
    }
  });
  after(async () => {
    for (const b of room.browsers) await b.close().catch(() => {});
    await room.server?.stop();
    room.ns?.close();
  });
  return room;
}

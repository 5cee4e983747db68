// A telephony gateway for the browser tests: the `/gateway` WebSocket with
// the gateway secret (docs/protocol.md), through which a test dials in as
// a phone caller. Node 20 has no WebSocket client that sends an
// Authorization header, so this speaks the few frames it needs itself:
// masked text frames out; text, ping and close in (the server's frames are
// small and never fragmented).

import { randomBytes } from 'node:crypto';
import { request } from 'node:http';

/** The secret startServer() configures. */
export const GATEWAY_SECRET = 'a-long-gateway-secret-for-web-tests';

/**
 * @param {string} base the server's http://host:port
 * @param {string} secret
 */
export function connectGateway(base, secret) {
  const url = new URL('/gateway', base);
  return new Promise((ok, fail) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        Authorization: `Bearer ${secret}`,
      },
    });
    req.on('upgrade', (_res, socket, head) => ok(new Gateway(socket, head)));
    req.on('response', (res) => fail(new Error(`/gateway answered ${res.statusCode}`)));
    req.on('error', fail);
    req.end();
  });
}

class Gateway {
  /**
   * @param {import('node:stream').Duplex} socket
   * @param {Buffer} head
   */
  constructor(socket, head) {
    this.socket = socket;
    this.buffer = head;
    /** @type {any[]} */
    this.messages = [];
    /** @type {(() => void)[]} */
    this.waiting = [];
    socket.on('data', (d) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.read();
    });
  }

  read() {
    for (;;) {
      const b = this.buffer;
      if (b.length < 2) return;
      const opcode = b[0] & 0x0f;
      let len = b[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b.length < at + len) return;
      const payload = b.subarray(at, at + len);
      this.buffer = b.subarray(at + len);
      if (opcode === 1) {
        this.messages.push(JSON.parse(payload.toString('utf8')));
        this.waiting.splice(0).forEach((wake) => wake());
      } else if (opcode === 9) {
        this.frame(10, payload);
      }
    }
  }

  /**
   * @param {number} opcode
   * @param {Buffer} payload
   */
  frame(opcode, payload) {
    const mask = randomBytes(4);
    const len = payload.length;
    const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]);
    const body = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]));
    this.socket.write(Buffer.concat([head, mask, body]));
  }

  /** @param {object} message */
  send(message) {
    this.frame(1, Buffer.from(JSON.stringify(message), 'utf8'));
  }

  /**
   * The first message (received or to come) that `match` accepts.
   * @param {(m: any) => boolean} match
   * @param {number} [timeout]
   */
  async next(match, timeout = 10_000) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const i = this.messages.findIndex(match);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the gateway got no such message: ${JSON.stringify(this.messages)}`);
      await new Promise((wake) => {
        this.waiting.push(() => wake(null));
        setTimeout(wake, left);
      });
    }
  }

  close() {
    this.frame(8, Buffer.alloc(0));
    this.socket.end();
  }
}

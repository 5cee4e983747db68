// The only module that speaks the WebSocket protocol (docs/protocol.md):
// it opens /ws, joins, numbers requests and matches their answers, passes
// events on, and, when the connection drops while seated, takes the seat
// back with the resume token within the server's 30 s grace.

/** @typedef {import('./types.js').Message} Message */
/** @typedef {import('./types.js').JoinFields} JoinFields */

/** How long the server keeps a dropped seat (docs/protocol.md `resume`). */
const GRACE_MS = 30_000;
const RETRY_MS = 1_000;

/**
 * Close reasons after which taking the seat back is pointless: the server
 * ended it, or another connection holds it now.
 */
const FINAL = new Set(['left', 'removed', 'blocked', 'room_closed', 'replaced', 'throttled', 'server_shutdown']);

/**
 * @typedef {object} Handlers
 * @property {(m: Message) => void} event an event (a message that answers no request)
 * @property {(reason: string) => void} closed the seat is gone for good
 * @property {(link: 'resuming' | 'resumed', joined?: Message) => void} link
 * @property {(joined: Message) => void} admitted a moderator let us in from the waiting room
 */

export class Connection {
  /** @param {Handlers} handlers */
  constructor(handlers) {
    this.handlers = handlers;
    /** @type {WebSocket | null} */
    this.ws = null;
    this.nextId = 0;
    /** @type {Map<string, (m: Message) => void>} */
    this.pending = new Map();
    /** @type {JoinFields | null} the join that seated us, for resuming (the server needs its fields) */
    this.joinFields = null;
    /** @type {string | null} */
    this.resumeToken = null;
    this.seated = false;
    /** in the waiting room: `joined` comes as an event once admitted */
    this.waiting = false;
    /** the server said why it ends the seat (`closed`), or we left */
    this.ended = false;
  }

  /** @returns {Promise<WebSocket>} an open socket, opening one if needed */
  open() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) return Promise.resolve(this.ws);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve(ws);
      ws.onmessage = (e) => this.receive(JSON.parse(e.data));
      ws.onclose = (e) => {
        reject(new Error(e.reason || 'connection closed'));
        this.lost(ws, e.reason);
      };
    });
  }

  /**
   * Sends a request and answers the server's answer to it. A request on a
   * connection that is gone is answered `connection_lost`.
   * @param {Message} message without `id`
   * @returns {Promise<Message>}
   */
  request(message) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.resolve({ type: 'error', code: 'connection_lost', message: 'not connected' });
    }
    const id = String(++this.nextId);
    ws.send(JSON.stringify({ ...message, id }));
    return new Promise((resolve) => this.pending.set(id, resolve));
  }

  /**
   * Joins. A refused join keeps the connection for another try, as the
   * protocol allows (except `throttled`, which the server closes).
   * @param {JoinFields} fields
   * @returns {Promise<Message>} `joined`, `waiting` or the refusal
   */
  async join(fields) {
    try {
      await this.open();
    } catch (e) {
      return { type: 'error', code: 'connection_lost', message: String(e) };
    }
    const answer = await this.request({ type: 'join', ...fields });
    if (answer.type === 'joined') this.seat(fields, answer);
    if (answer.type === 'waiting') {
      this.joinFields = fields;
      this.waiting = true;
    }
    return answer;
  }

  /**
   * @param {JoinFields} fields
   * @param {Message} joined
   */
  seat(fields, joined) {
    this.joinFields = fields;
    this.resumeToken = joined.resume_token;
    this.seated = true;
    this.waiting = false;
  }

  async leave() {
    this.ended = true;
    await this.request({ type: 'leave' });
  }

  /** Closes the socket as a network drop would (diagnostics and tests). */
  drop() {
    if (this.ws) this.ws.close();
  }

  /** @param {Message} m */
  receive(m) {
    if (m.id !== undefined && this.pending.has(m.id)) {
      const resolve = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (resolve) resolve(m);
      return;
    }
    if (m.type === 'closed') {
      this.ended = true;
      this.handlers.closed(m.reason);
      return;
    }
    if (m.type === 'joined' && this.waiting && this.joinFields) {
      // A moderator let us in from the waiting room.
      this.seat(this.joinFields, m);
      this.handlers.admitted(m);
      return;
    }
    this.handlers.event(m);
  }

  /**
   * @param {WebSocket} ws
   * @param {string} reason the close frame's reason
   */
  lost(ws, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    for (const resolve of this.pending.values()) {
      resolve({ type: 'error', code: 'connection_lost', message: 'the connection dropped' });
    }
    this.pending.clear();
    if (this.ended) return;
    if (!this.seated) {
      // Before joining there is no seat to keep; a reason (throttled) is
      // news, and so is losing one's place in the waiting room.
      if (reason || this.waiting) this.handlers.closed(reason || 'dropped');
      return;
    }
    if (FINAL.has(reason)) {
      this.ended = true;
      this.handlers.closed(reason);
      return;
    }
    this.resume(Date.now() + GRACE_MS);
  }

  /** @param {number} deadline */
  async resume(deadline) {
    this.handlers.link('resuming');
    let reason = 'dropped';
    while (!this.ended) {
      await new Promise((r) => setTimeout(r, RETRY_MS));
      if (Date.now() > deadline) break;
      try {
        await this.open();
      } catch {
        continue; // the network is still down
      }
      const answer = await this.request({ type: 'join', ...this.joinFields, resume_token: this.resumeToken });
      if (answer.type === 'joined') {
        this.handlers.link('resumed', answer);
        return;
      }
      if (answer.code !== 'connection_lost') {
        // The seat is gone: blocked or removed meanwhile, or the room ended.
        if (answer.code === 'blocked' || answer.code === 'not_in_room') reason = answer.code;
        break;
      }
    }
    if (!this.ended) {
      this.ended = true;
      if (this.ws) this.ws.close();
      this.handlers.closed(reason);
    }
  }
}

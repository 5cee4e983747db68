// WebRTC (docs/media.md, docs/protocol.md "Media signalling"): publishes
// the microphone and camera, answers the server's subscribe offers, and,
// when the room says two may talk directly, runs the peer connection. It
// sends through `send` (protocol.js) and shows media through `show`; it
// never touches the page.

/** @typedef {import('./types.js').Message} Message */
/** @typedef {import('./types.js').MediaMode} MediaMode */
/** @typedef {'publish' | 'subscribe' | 'peer'} PcName */

/**
 * @typedef {object} MediaHooks
 * @property {(m: Message) => Promise<Message>} send a request; answers its answer
 * @property {(who: string, stream: MediaStream, mine: boolean) => void} show a tile's stream got a track
 * @property {(message: string) => void} error a refused media request
 */

export class Media {
  /** @param {MediaHooks} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {MediaMode} */
    this.mode = { mode: 'sfu', peer: null, offerer: false };
    /** @type {RTCIceServer[]} */
    this.iceServers = [];
    /** @type {MediaStream | null} may have no tracks */
    this.local = null;
    /** @type {Promise<void>} settled once the devices answered */
    this.localReady = Promise.resolve();
    /** @type {Partial<Record<PcName, RTCPeerConnection>>} */
    this.pcs = {};
    /** @type {Partial<Record<PcName, Promise<void>>>} signalling runs in order, per connection */
    this.queues = {};
    /** @type {Map<string, MediaStream>} participant id -> what we receive from them */
    this.streams = new Map();
    /** @type {string | null} */
    this.me = null;
  }

  /**
   * After joining: asks for the devices, then follows the room's mode.
   * @param {string} me
   * @param {RTCIceServer[]} iceServers
   */
  start(me, iceServers) {
    this.me = me;
    this.iceServers = iceServers;
    this.localReady = navigator.mediaDevices
      .getUserMedia({ audio: true, video: { width: 640, height: 480, frameRate: 15 } })
      .catch(() => new MediaStream()) // no devices, or refused: receive only
      .then((stream) => {
        this.local = stream;
        this.hooks.show(me, stream, true);
        this.apply();
      });
  }

  /** @param {MediaMode} mode */
  setMode(mode) {
    this.mode = mode;
    this.apply();
  }

  /**
   * Media signalling from the server.
   * @param {Message} m
   */
  signal(m) {
    const name = /** @type {PcName} */ (m.pc);
    switch (m.type) {
      case 'media_offer':
        this.onOffer(name, m.sdp);
        break;
      case 'media_answer':
        this.inOrder(name, async () => {
          const pc = this.pcs[name];
          if (pc) await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
        });
        break;
      case 'media_candidate':
        this.inOrder(name, async () => {
          const pc = this.pcs[name];
          if (pc && m.candidate) await pc.addIceCandidate(m.candidate).catch(() => {});
        });
        break;
      case 'media_reset':
        this.reset();
        break;
      default:
        break;
    }
  }

  /** The server's connections are gone (media_reset, or a resumed seat): publish again. */
  reset() {
    this.closePc('publish');
    this.closePc('subscribe');
    this.apply();
  }

  /** @param {string} id a participant who left */
  forget(id) {
    this.streams.delete(id);
  }

  /** @returns {boolean} whether the microphone is on after the toggle */
  toggleMicrophone() {
    const audio = this.local ? this.local.getAudioTracks() : [];
    const on = audio.some((t) => t.enabled);
    audio.forEach((t) => (t.enabled = !on));
    return !on;
  }

  stop() {
    for (const name of /** @type {PcName[]} */ (Object.keys(this.pcs))) this.closePc(name);
    if (this.local) this.local.getTracks().forEach((t) => t.stop());
  }

  /**
   * @param {PcName} name
   * @param {() => Promise<void>} step
   */
  inOrder(name, step) {
    const before = this.queues[name] || Promise.resolve();
    const next = before.then(step).catch((e) => console.warn(name, e));
    this.queues[name] = next;
    return next;
  }

  /** @param {PcName} name */
  newPc(name) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.onicecandidate = (e) => {
      if (e.candidate) this.hooks.send({ type: 'media_candidate', pc: name, candidate: e.candidate.toJSON() });
    };
    pc.ontrack = (e) => {
      // Through the server a track's stream is its publisher's id; peer to
      // peer, everything is the peer's.
      const who = name === 'peer' ? this.mode.peer : e.streams[0] && e.streams[0].id;
      if (who) this.showTrack(who, e.track);
    };
    if (name === 'subscribe') {
      // The direct call, if any, stays until the server carries media.
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'connected' && this.mode.mode === 'sfu') this.closePc('peer');
      };
    }
    this.pcs[name] = pc;
    return pc;
  }

  /** @param {PcName} name */
  closePc(name) {
    const pc = this.pcs[name];
    if (!pc) return;
    pc.close();
    delete this.pcs[name];
    delete this.queues[name];
  }

  /**
   * @param {string} who
   * @param {MediaStreamTrack} track
   */
  showTrack(who, track) {
    let stream = this.streams.get(who);
    if (!stream) {
      stream = new MediaStream();
      this.streams.set(who, stream);
    }
    // A newer track of the same kind (the call moved to the server) takes
    // the place of the old one.
    for (const old of stream.getTracks()) {
      if (old.kind === track.kind && old !== track) stream.removeTrack(old);
    }
    stream.addTrack(track);
    this.hooks.show(who, stream, false);
  }

  /** What the room's media mode asks of this page, once the devices answered. */
  apply() {
    const local = this.local;
    if (!local) return;
    if (this.mode.mode === 'p2p') {
      // The server closed its connections with us.
      this.closePc('publish');
      this.closePc('subscribe');
      if (this.mode.offerer && !this.pcs.peer) {
        this.inOrder('peer', async () => {
          const pc = this.peerPc(local);
          await pc.setLocalDescription(await pc.createOffer());
          await this.hooks.send({ type: 'media_offer', pc: 'peer', sdp: pc.localDescription?.sdp });
        });
      }
    } else if (!this.pcs.publish && local.getTracks().length > 0) {
      this.publish(local);
    }
  }

  /** @param {MediaStream} local */
  peerPc(local) {
    const pc = this.newPc('peer');
    const tracks = local.getTracks();
    tracks.forEach((t) => pc.addTrack(t, local));
    for (const kind of ['audio', 'video']) {
      if (!tracks.some((t) => t.kind === kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    return pc;
  }

  /** @param {MediaStream} local */
  publish(local) {
    this.inOrder('publish', async () => {
      const pc = this.newPc('publish');
      /** @type {Record<string, string>} */
      const tracks = {};
      for (const t of local.getTracks()) {
        pc.addTransceiver(t, { direction: 'sendonly', streams: [local] });
        tracks[t.id] = t.kind === 'audio' ? 'microphone' : 'camera';
      }
      await pc.setLocalDescription(await pc.createOffer());
      const answer = await this.hooks.send({ type: 'media_offer', pc: 'publish', sdp: pc.localDescription?.sdp, tracks });
      // The room went end to end before the offer arrived: the mode change
      // that says so closes this connection.
      if (answer.code === 'wrong_media_mode') return;
      if (answer.type === 'error') this.hooks.error(`${answer.message} (${answer.code})`);
    });
  }

  /**
   * @param {PcName} name
   * @param {string} sdp
   */
  onOffer(name, sdp) {
    const needsLocal = name === 'peer';
    // Peer to peer, the server serves no connection of ours.
    if (!needsLocal && this.mode.mode === 'p2p') return;
    this.inOrder(name, async () => {
      if (needsLocal) await this.localReady;
      let pc = this.pcs[name];
      if (!pc) {
        pc = this.newPc(name);
        const local = this.local;
        if (needsLocal && local) local.getTracks().forEach((t) => pc?.addTrack(t, local));
      }
      await pc.setRemoteDescription({ type: 'offer', sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await this.hooks.send({ type: 'media_answer', pc: name, sdp: pc.localDescription?.sdp });
    });
  }

  /** What each connection receives, per SSRC (diagnostics and the browser tests). */
  async stats() {
    /** @type {{pc: string, kind: string, ssrc: number, packets: number, frames: number, played: number}[]} */
    const inbound = [];
    for (const [pc, conn] of Object.entries(this.pcs)) {
      const report = await conn.getStats();
      report.forEach((r) => {
        if (r.type === 'inbound-rtp') {
          inbound.push({
            pc,
            kind: r.kind,
            ssrc: r.ssrc,
            packets: r.packetsReceived || 0,
            frames: r.framesDecoded || 0,
            played: (r.totalSamplesReceived || 0) - (r.concealedSamples || 0),
          });
        }
      });
    }
    return inbound;
  }

  /** @param {PcName} pc */
  transceivers(pc) {
    const conn = this.pcs[pc];
    return conn ? conn.getTransceivers().length : 0;
  }

  /** Each connection's state and its transceivers' directions, to say why media is missing. */
  describe() {
    return Object.fromEntries(
      Object.entries(this.pcs).map(([k, v]) => [k, [v.connectionState, v.getTransceivers().map((t) => t.currentDirection)]]),
    );
  }
}

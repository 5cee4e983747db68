// WebRTC (docs/media.md, docs/protocol.md "Media signalling"): publishes
// the microphone and camera, answers the server's subscribe offers, and,
// when the room says two may talk directly, runs the peer connection. It
// sends through `send` (protocol.js) and shows media through `show`; it
// never touches the page.

/** @typedef {import('./types.js').Message} Message */
/** @typedef {import('./types.js').MediaMode} MediaMode */
import { constraints, publishing } from './devices.js';
import { paths, received, sent } from './media_stats.js';

/** @typedef {'publish' | 'subscribe' | 'peer'} PcName */

/**
 * @typedef {object} MediaHooks
 * @property {(m: Message) => Promise<Message>} send a request; answers its answer
 * @property {(who: string, stream: MediaStream, mine: boolean, screen: boolean) => void} show a tile's stream got a track
 * @property {(who: string) => void} hideScreen someone's screen stopped (frames stopped arriving, or this page stopped sharing)
 * @property {(who: string, live: boolean) => void} camera someone's camera frames stopped arriving, or came back
 * @property {(message: string) => void} error a refused media request
 */

/** @typedef {import('./devices.js').DeviceChoice} DeviceChoice */

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
    /** @type {MediaStreamTrack | null} this page's screen, while shared */
    this.screen = null;
    /** @type {Map<string, {who: string, stream: MediaStream, frames: number, live: boolean}>} screens received, by track id */
    this.screens = new Map();
    /** @type {string | null} the peer's camera stream, to tell its screen apart (peer to peer) */
    this.peerMain = null;
    /** @type {Map<string, {who: string, frames: number, still: number}>} cameras received, by track id */
    this.cameras = new Map();
    /** @type {ReturnType<typeof setInterval> | null} */
    this.screenWatch = null;
    /** @type {Set<string>} the mids of this page's screen senders, to use again */
    this.screenMids = new Set();
    /** @type {MediaStream | null} the join form's preview, until joining takes it */
    this.previewStream = null;
    /** how many previews were asked for, so a slow answer does not undo a later choice */
    this.previewAsked = 0;
  }

  /**
   * Before joining: the chosen devices, for the join form's preview. The
   * same stream is published after joining, so the browser asks once.
   * @param {DeviceChoice} choice
   * @returns {Promise<MediaStream | null>} null when refused or missing
   */
  async preview(choice) {
    const asked = ++this.previewAsked;
    this.stopPreview();
    const stream = await navigator.mediaDevices.getUserMedia(constraints(choice, true)).catch(() => null);
    // A later choice overtook this one.
    if (asked !== this.previewAsked) {
      if (stream) stream.getTracks().forEach((t) => t.stop());
      return this.previewStream;
    }
    this.previewStream = stream;
    return stream;
  }

  stopPreview() {
    if (this.previewStream) this.previewStream.getTracks().forEach((t) => t.stop());
    this.previewStream = null;
  }

  /**
   * After joining: takes the preview's stream (or asks for the devices),
   * then follows the room's mode. With the camera off, no video track is
   * asked for or sent; with the microphone off, its track is sent disabled
   * (silence) so "Unmute" turns it on without a new offer.
   * @param {string} me
   * @param {RTCIceServer[]} iceServers
   * @param {DeviceChoice & {micOff: boolean, cameraOff: boolean}} options
   */
  start(me, iceServers, options) {
    this.me = me;
    this.iceServers = iceServers;
    const previewed = this.previewStream;
    this.previewStream = null;
    this.previewAsked++;
    const devices = previewed
      ? Promise.resolve(previewed)
      : navigator.mediaDevices.getUserMedia(constraints(options, !options.cameraOff));
    this.localReady = devices
      .catch(() => new MediaStream()) // no devices, or refused: receive only
      .then((stream) => {
        if (options.cameraOff) {
          for (const t of stream.getVideoTracks()) {
            t.stop();
            stream.removeTrack(t);
          }
        }
        if (options.micOff) stream.getAudioTracks().forEach((t) => (t.enabled = false));
        this.local = stream;
        this.hooks.show(me, stream, true, false);
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

  /** @returns {boolean} whether this page sends its camera */
  cameraOn() {
    return !!this.local && this.local.getVideoTracks().some((t) => t.readyState === 'live');
  }

  /**
   * Turns the camera off (the track stops, so the camera light goes out;
   * its sender stays, idle, for the next time) or on again (a new track
   * from the chosen camera, on the idle sender, else on a new one, which
   * needs an offer).
   * @param {DeviceChoice} choice
   * @returns {Promise<string>} '' once done, else why not
   */
  async toggleCamera(choice) {
    await this.localReady;
    const local = this.local;
    if (!local) return 'The camera cannot be used before the media started.';
    if (this.cameraOn()) {
      for (const track of local.getVideoTracks()) {
        track.stop();
        local.removeTrack(track);
        for (const pc of Object.values(this.pcs)) {
          const sender = pc.getSenders().find((x) => x.track === track);
          if (sender) await sender.replaceTrack(null).catch(() => {});
        }
      }
      if (this.me) this.hooks.show(this.me, local, true, false);
      return '';
    }
    const stream = await navigator.mediaDevices.getUserMedia({ video: constraints(choice, true).video }).catch(() => null);
    const track = stream && stream.getVideoTracks()[0];
    if (!track) return 'The camera did not start: the browser was not allowed to use it, or it is busy.';
    local.addTrack(track);
    if (this.me) this.hooks.show(this.me, local, true, false);
    for (const name of /** @type {PcName[]} */ (['publish', 'peer'])) await this.sendCamera(name, track, local);
    // No connection carried media yet (this page had nothing to send).
    this.apply();
    return '';
  }

  /**
   * Puts the camera on a connection: on its camera transceiver when it
   * has one (no offer needed while it sends already), else on a new one.
   * @param {PcName} name
   * @param {MediaStreamTrack} track
   * @param {MediaStream} local
   */
  async sendCamera(name, track, local) {
    const pc = this.pcs[name];
    if (!pc) return;
    const send = name === 'peer' ? 'sendrecv' : 'sendonly';
    await this.inOrder(name, async () => {
      // The first video transceiver that is not a screen's: the camera's
      // m-line comes before any screen's.
      const camera = pc.getTransceivers().find((t) => t.receiver.track.kind === 'video' && t.sender.track !== this.screen && !(t.mid !== null && this.screenMids.has(t.mid)));
      if (camera && camera.sender.track === null) {
        await camera.sender.replaceTrack(track);
        if (camera.sender.setStreams) camera.sender.setStreams(local);
        if (camera.direction === send) return;
        camera.direction = send;
      } else {
        pc.addTransceiver(track, name === 'peer' ? { direction: send, streams: [local] } : publishing(track, local));
      }
      await pc.setLocalDescription(await pc.createOffer());
      const answer = await this.hooks.send({ type: 'media_offer', pc: name, sdp: pc.localDescription?.sdp, tracks: name === 'peer' ? undefined : this.declared(pc) });
      if (answer.type === 'error' && answer.code !== 'wrong_media_mode') this.hooks.error(`${answer.message} (${answer.code})`);
    });
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
    this.stopScreen();
    if (this.screenWatch) clearInterval(this.screenWatch);
    this.screenWatch = null;
  }

  /**
   * Shares a screen (getDisplayMedia, so it must run from a click). It is
   * declared as `screen` in the publish offer; the server refuses the
   * offer (`not_permitted`) when the share permission forbids it.
   * @param {() => void} ended the browser's own "Stop sharing" was used
   * @returns {Promise<string>} '' once shared, else why not
   */
  async shareScreen(ended) {
    /** @type {MediaStream} */
    let display;
    try {
      display = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 15 }, audio: false });
    } catch {
      return 'The screen was not shared: the browser was not allowed to capture it.';
    }
    const track = display.getVideoTracks()[0];
    if (!track) return 'The screen was not shared: the browser was not allowed to capture it.';
    track.onended = () => {
      if (this.screen === track) ended();
    };
    this.screen = track;
    const refused = await this.sendScreen(track, display);
    if (refused) {
      this.stopScreen();
      return refused;
    }
    if (this.me) this.hooks.show(`${this.me}:screen`, display, true, true);
    return '';
  }

  /** Stops sharing the screen: the track ends, so nothing more is sent. */
  stopScreen() {
    const track = this.screen;
    if (!track) return;
    this.screen = null;
    track.stop();
    for (const pc of Object.values(this.pcs)) {
      const sender = pc.getSenders().find((x) => x.track === track);
      // Without renegotiating: the sender stays, ready for the next share.
      if (sender) sender.replaceTrack(null).catch(() => {});
    }
    if (this.me) this.hooks.hideScreen(`${this.me}:screen`);
  }

  /**
   * Puts the screen on the connection that carries this page's media:
   * an idle screen sender again when there is one, else a new one, which
   * needs an offer.
   * @param {MediaStreamTrack} track
   * @param {MediaStream} display
   * @returns {Promise<string>} '' or why it was refused
   */
  async sendScreen(track, display) {
    const name = this.mode.mode === 'p2p' ? 'peer' : 'publish';
    const pc = this.pcs[name];
    if (!pc) return ''; // the next offer takes it along (publish, peerPc)
    const idle = pc.getTransceivers().find((t) => t.sender.track === null && t.receiver.track.kind === 'video' && t.direction === 'sendonly' && t.mid !== null && this.screenMids.has(t.mid));
    if (idle) {
      await idle.sender.replaceTrack(track);
      return '';
    }
    let refused = '';
    await this.inOrder(name, async () => {
      pc.addTransceiver(track, { direction: 'sendonly', streams: [display] });
      await pc.setLocalDescription(await pc.createOffer());
      const answer = await this.hooks.send({ type: 'media_offer', pc: name, sdp: pc.localDescription?.sdp, tracks: this.declared(pc) });
      if (answer.type === 'error' && answer.code !== 'wrong_media_mode') {
        refused = `${answer.message} (${answer.code})`;
        await pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
        const sender = pc.getSenders().find((x) => x.track === track);
        if (sender) pc.removeTrack(sender);
      }
      this.rememberScreenMids(pc);
    });
    return refused;
  }

  /**
   * What each sent track is, for the publish offer's `tracks`.
   * @param {RTCPeerConnection} pc
   */
  declared(pc) {
    /** @type {Record<string, string>} */
    const tracks = {};
    for (const sender of pc.getSenders()) {
      const t = sender.track;
      if (!t) continue;
      tracks[t.id] = t === this.screen ? 'screen' : t.kind === 'audio' ? 'microphone' : 'camera';
    }
    return tracks;
  }

  /** @param {RTCPeerConnection} pc */
  rememberScreenMids(pc) {
    for (const t of pc.getTransceivers()) {
      if (t.mid !== null && this.screen && t.sender.track === this.screen) this.screenMids.add(t.mid);
    }
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
      // Through the server a track's stream is its publisher's id and a
      // screen's track id starts with `screen`; peer to peer, everything is
      // the peer's, and a screen comes in a stream of its own.
      const stream = e.streams[0];
      const who = name === 'peer' ? this.mode.peer : stream && stream.id;
      if (!who) return;
      let screen = e.track.id.startsWith('screen');
      if (name === 'peer' && stream) {
        if (this.peerMain === null) this.peerMain = stream.id;
        screen = stream.id !== this.peerMain;
      }
      if (screen) this.watchScreen(who, e.track);
      else this.showTrack(who, e.track);
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
    if (name === 'peer') this.peerMain = null;
    if (name !== 'publish') {
      for (const [id, s] of this.screens) {
        if (pc.getReceivers().some((r) => r.track.id === id)) {
          this.screens.delete(id);
          this.hooks.hideScreen(`${s.who}:screen`);
        }
      }
    }
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
    this.hooks.show(who, stream, false, false);
    if (track.kind === 'video') {
      this.cameras.set(track.id, { who, frames: 0, still: 0 });
      this.watch();
    }
  }

  /**
   * A screen shows while its frames arrive: the server keeps a forwarded
   * track when its publisher stops sharing (or may no longer share), it
   * only stops sending, so the page watches the decoded frames.
   * @param {string} who
   * @param {MediaStreamTrack} track
   */
  watchScreen(who, track) {
    this.screens.set(track.id, { who, stream: new MediaStream([track]), frames: 0, live: false });
    this.watch();
  }

  watch() {
    if (this.screenWatch) return;
    this.screenWatch = setInterval(() => this.checkVideo(), 1000);
  }

  /**
   * Screens show while their frames arrive; a camera whose frames stopped
   * for two seconds, after it had sent some, shows as off (its sender
   * turned it off: the track stays, only the frames stop).
   */
  async checkVideo() {
    /** @type {Map<string, number>} */
    const frames = new Map();
    for (const name of /** @type {PcName[]} */ (['subscribe', 'peer'])) {
      const pc = this.pcs[name];
      if (!pc) continue;
      const report = await pc.getStats().catch(() => null);
      report?.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video' && r.trackIdentifier) frames.set(r.trackIdentifier, r.framesDecoded || 0);
      });
    }
    for (const s of this.screens.values()) {
      const now = frames.get(s.stream.getVideoTracks()[0]?.id || '');
      const live = now !== undefined && now > s.frames;
      if (now !== undefined) s.frames = now;
      if (live === s.live) continue;
      s.live = live;
      if (live) this.hooks.show(`${s.who}:screen`, s.stream, false, true);
      else this.hooks.hideScreen(`${s.who}:screen`);
    }
    for (const [id, c] of this.cameras) {
      const now = frames.get(id);
      if (now === undefined) {
        // Gone with its connection, or replaced by a newer track.
        if (!this.streams.get(c.who)?.getTrackById(id)) this.cameras.delete(id);
        continue;
      }
      const before = c.still;
      c.still = now > c.frames ? 0 : c.frames > 0 ? c.still + 1 : 0;
      c.frames = now;
      if (before < 2 && c.still >= 2) this.hooks.camera(c.who, false);
      if (before >= 2 && c.still === 0) this.hooks.camera(c.who, true);
    }
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
    } else if (!this.pcs.publish && (local.getTracks().length > 0 || this.screen)) {
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
    if (this.screen) pc.addTrack(this.screen, new MediaStream([this.screen]));
    return pc;
  }

  /** @param {MediaStream} local */
  publish(local) {
    this.inOrder('publish', async () => {
      const pc = this.newPc('publish');
      this.screenMids.clear();
      for (const t of local.getTracks()) pc.addTransceiver(t, publishing(t, local));
      if (this.screen) pc.addTransceiver(this.screen, { direction: 'sendonly', streams: [new MediaStream([this.screen])] });
      await pc.setLocalDescription(await pc.createOffer());
      const answer = await this.hooks.send({ type: 'media_offer', pc: 'publish', sdp: pc.localDescription?.sdp, tracks: this.declared(pc) });
      this.rememberScreenMids(pc);
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
      // A screen shared before the call existed needs a section of its
      // own, which an answer cannot add: offer it once this answer is out.
      const screen = this.screen;
      if (needsLocal && screen && !pc.getSenders().some((x) => x.track === screen)) {
        setTimeout(() => this.sendScreen(screen, new MediaStream([screen])), 0);
      }
    });
  }

  /** What each connection receives, per SSRC (diagnostics and the browser tests). */
  stats() {
    return received(this.pcs);
  }

  /** The candidate each connection's media goes through. */
  paths() {
    return paths(this.pcs);
  }

  /** What the page sends of its video, per simulcast layer. */
  sent() {
    return sent(this.pcs.publish || this.pcs.peer);
  }

  sendingVideo() {
    return Object.values(this.pcs).flatMap((pc) => pc.getSenders()).filter((x) => x.track && x.track.kind === 'video' && x.track.readyState === 'live').length;
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

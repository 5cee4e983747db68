// Ties the pieces together: what the server says goes into the state
// (state.js) and to the media (media.js); what the person does (the
// actions the views call) goes to the server (protocol.js). Views get
// `actions` and never see the connection.

import { Connection } from './protocol.js';
import { downloadDocument, uploadDocument } from './api.js';
import { Media } from './media.js';
import { listDevices } from './devices.js';
import { applyEvent, createStore, initialState, mayShare } from './state.js';
import { explainClosed, explainError, explainProblem, explainRefusal } from './words.js';
import { takeHandover } from './handover.js';
import { Sounds, cueFor } from './sounds.js';

/** @typedef {import('./types.js').Message} Message */
/** @typedef {import('./types.js').Audience} Audience */
/** @typedef {import('./types.js').DocumentInfo} DocumentInfo */
/** @typedef {import('./state.js').State} State */

const SIGNALLING = new Set(['media_offer', 'media_answer', 'media_candidate', 'media_reset']);

/** @typedef {import('./types.js').JoinFields} JoinFields */
export function createSession() {
  const store = createStore(initialState());
  const sounds = new Sounds();
  store.update({ sounds: sounds.on });
  const media = new Media({
    send: (m) => connection.request(m),
    show: (id, stream, mine, screen) =>
      store.update((s) => {
        const old = s.tiles.find((t) => t.id === id);
        const owner = screen ? id.replace(/:screen$/, '') : id;
        // Another's new track is frames on their way; one's own camera is on while its track is.
        const video = screen || (mine ? media.cameraOn() : stream.getVideoTracks().length > 0);
        const tile = { id, owner, stream, mine, screen, video, tracks: (old ? old.tracks : 0) + 1 };
        return { tiles: old ? s.tiles.map((t) => (t.id === id ? tile : t)) : [...s.tiles, tile] };
      }),
    hideScreen: (id) => store.update((s) => ({ tiles: s.tiles.filter((t) => t.id !== id) })),
    camera: (id, live) => store.update((s) => ({ tiles: s.tiles.map((t) => (t.id === id ? { ...t, video: live } : t)) })),
    error: (message) => store.update({ roomError: message }),
  });

  // How the page shows each video, by `participant source`: whether it
  // is in sight (a tile hidden or scrolled away is not) and its tile's
  // height in device pixels. The server sends a video out of sight
  // nothing, and a simulcast publisher's smallest layer that fills the
  // tile (`media_watch`, docs/protocol.md). The server forgets when the
  // media starts over, so it is told again.
  /** @type {Map<string, {visible: boolean, height: number}>} */
  const watching = new Map();
  /**
   * @param {string} participant
   * @param {string} source
   * @param {{visible: boolean, height: number}} how
   */
  function tellWatch(participant, source, how) {
    if (store.get().media.mode !== 'sfu') return;
    // A refusal (the participant left meanwhile) changes nothing shown.
    connection.request({ type: 'media_watch', participant, source, visible: how.visible, height: how.height }).catch(() => {});
  }
  function rewatch() {
    for (const [key, how] of watching) {
      const [participant, source] = key.split(' ');
      tellWatch(participant, source, how);
    }
  }

  const connection = new Connection({
    event(m) {
      if (SIGNALLING.has(m.type)) {
        media.signal(m);
        if (m.type === 'media_reset') rewatch();
        return;
      }
      if (m.type === 'participant_left') {
        media.forget(m.participant);
        for (const key of [...watching.keys()]) if (key.startsWith(`${m.participant} `)) watching.delete(key);
      }
      store.update((s) => applyEvent(s, m));
      const cue = cueFor(store.get(), m);
      if (cue) sounds.play(cue);
      // The server stops forwarding a participant's screen when sharing
      // becomes the moderators'; stop sending it too.
      if (store.get().sharing && !mayShare(store.get())) stopScreen();
      if (m.type === 'room' || m.type === 'media_mode') {
        media.setMode(store.get().media);
        rewatch();
      }
      if ((m.type === 'room' || (m.type === 'role_changed' && m.participant === store.get().me)) && m.role === 'moderator') refreshBlocks();
    },
    admitted(joined) {
      sounds.play('joined');
      enter(joined, waitingWith);
    },
    closed(reason) {
      media.stop();
      if (store.get().phase === 'waiting') media.stopPreview();
      if (reason === 'removed' || reason === 'blocked' || reason === 'not_in_room') sounds.play('removed');
      store.update((s) => (s.phase === 'join' ? { joinError: explainClosed(reason) } : { phase: 'closed', closedReason: explainClosed(reason) }));
    },
    link(link) {
      store.update({ link: link === 'resuming' ? 'resuming' : 'ok' });
      if (link === 'resuming' || link === 'resumed') sounds.play(link);
      // The server's media connections did not survive the drop.
      if (link === 'resumed') media.reset();
    },
  });

  /** How the person chose to come in, while they wait to be let in. */
  let waitingWith = { micOff: false, cameraOff: false };

  /**
   * Seated: the room and the media.
   * @param {Message} answer `joined`
   * @param {{micOff: boolean, cameraOff: boolean}} options
   */
  function enter(answer, options) {
    const micOn = !options.micOff;
    const cameraOn = !options.cameraOff;
    store.update({ joining: false, phase: 'room', me: answer.participant, role: answer.role, title: answer.title || 'Conference', micOn, cameraOn, preview: null });
    media.start(answer.participant, answer.ice_servers || [], { ...store.get().chosen, ...options });
  }

  /**
   * A moderator request; its refusal shows in the room.
   * @param {Message} message
   * @returns {Promise<boolean>} whether the server accepted it
   */
  async function ask(message) {
    const answer = await connection.request(message);
    if (answer.type === 'error') {
      store.update({ roomError: explainError(answer) });
      return false;
    }
    store.update({ roomError: '' });
    return true;
  }

  function stopScreen() {
    media.stopScreen();
    store.update({ sharing: false });
  }

  async function refreshBlocks() {
    const answer = await connection.request({ type: 'list_blocks' });
    if (answer.type === 'blocks') store.update({ blocks: answer.blocks });
  }

  const actions = {
    /**
     * The join form's preview, with the devices picked (an empty id is the
     * browser's default); the pickers list what the browser then names.
     * @param {Partial<State['chosen']>} [choice]
     */
    async preview(choice = {}) {
      const chosen = { ...store.get().chosen, ...choice };
      store.update({ chosen });
      const stream = await media.preview(chosen);
      if (store.get().phase !== 'join') return;
      store.update({ preview: stream, devices: await listDevices() });
    },
    /**
     * @param {JoinFields} fields
     * @param {{micOff: boolean, cameraOff: boolean}} [options] how to come in
     */
    async join(fields, options = { micOff: false, cameraOff: false }) {
      store.update({ joining: true, joinError: '' });
      sounds.wake();
      const answer = await connection.join(fields);
      if (answer.type === 'waiting') {
        // The preview stays on until a moderator lets us in.
        waitingWith = options;
        store.update({ joining: false, phase: 'waiting', title: answer.title || 'Conference' });
        return;
      }
      if (answer.type !== 'joined') {
        store.update({
          joining: false,
          joinError: explainRefusal(answer),
          needsSecurity: store.get().needsSecurity || answer.code === 'security_code_required',
        });
        return;
      }
      enter(answer, options);
    },
    async leave() {
      await connection.leave();
      media.stop();
      media.stopPreview();
      store.update({ phase: 'closed', closedReason: explainClosed('left') });
    },
    async toggleScreen() {
      if (store.get().sharing) {
        stopScreen();
        return;
      }
      store.update({ sharing: true, roomError: '' });
      const refused = await media.shareScreen(stopScreen);
      if (refused) store.update({ sharing: false, roomError: refused });
    },
    toggleSpeakerView: () => store.update((s) => ({ speakerView: !s.speakerView })),
    /**
     * Whether the page shows a participant's camera or screen now, and
     * how high its tile is.
     * @param {string} participant
     * @param {'camera' | 'screen'} source
     * @param {boolean} visible
     * @param {number} height in device pixels
     */
    watch(participant, source, visible, height) {
      const key = `${participant} ${source}`;
      const before = watching.get(key);
      if (before && before.visible === visible && before.height === height) return;
      const how = { visible, height };
      watching.set(key, how);
      tellWatch(participant, source, how);
    },
    toggleMicrophone() {
      store.update({ micOn: media.toggleMicrophone() });
    },
    async toggleCamera() {
      if (store.get().cameraBusy) return;
      store.update({ cameraBusy: true });
      const refused = await media.toggleCamera(store.get().chosen);
      store.update({ cameraBusy: false, cameraOn: media.cameraOn(), roomError: refused });
    },
    /** @param {string} text */
    chat: (text) => ask({ type: 'chat', text }),
    lock: () => ask({ type: 'lock' }),
    unlock: () => ask({ type: 'unlock' }),
    /**
     * @param {'chat' | 'share'} permission
     * @param {Audience} audience
     */
    setPermission: (permission, audience) => ask({ type: 'set_permission', permission, audience }),
    /** @param {import('./types.js').WaitingRoom} setting */
    setWaitingRoom: (setting) => ask({ type: 'set_waiting_room', setting }),
    /** @param {string} participant */
    admit: (participant) => ask({ type: 'admit', participant }),
    /** @param {string} participant */
    deny: (participant) => ask({ type: 'deny', participant }),
    admitAll: () => ask({ type: 'admit_all' }),
    startRecording: () => ask({ type: 'start_recording' }),
    stopRecording: () => ask({ type: 'stop_recording' }),
    refreshBlocks,
    /** @param {string} block */
    unblock: (block) => ask({ type: 'unblock', block }),
    /**
     * @param {string} participant
     * @param {boolean} muted
     */
    mute: (participant, muted) => ask({ type: 'mute', participant, muted }),
    /**
     * @param {string} participant
     * @param {boolean} block
     */
    remove: (participant, block) => ask({ type: 'remove', participant, block }),
    /** @param {string} participant */
    promote: (participant) => ask({ type: 'promote', participant }),
    /** @param {string} participant */
    demote: (participant) => ask({ type: 'demote', participant }),
    /**
     * @param {string} participant
     * @param {string} name
     */
    nameCaller: (participant, name) => ask({ type: 'name_caller', participant, name }),
    dismissError: () => store.update({ roomError: '' }),
    dismissKnock: () => store.update({ knock: null }),
    toggleSounds() {
      sounds.set(!sounds.on);
      if (sounds.on) sounds.wake();
      store.update({ sounds: sounds.on });
    },
    /**
     * Shares a file; `upload` in the state follows its progress.
     * @param {File} file
     * @returns {Promise<boolean>} whether the server took it
     */
    async uploadDocument(file) {
      const token = connection.resumeToken;
      if (!token) return false;
      store.update({ upload: { name: file.name, fraction: 0 }, roomError: '' });
      const answer = await uploadDocument(token, file, (fraction) => store.update({ upload: { name: file.name, fraction } }));
      const ok = answer.status === 201;
      // The server's `document_added` puts it in the list.
      store.update({ upload: null, roomError: ok ? '' : explainProblem(answer) });
      return ok;
    },
    /**
     * Saves a shared document, as the browser saves any download.
     * @param {DocumentInfo} doc
     */
    async downloadDocument(doc) {
      const token = connection.resumeToken;
      if (!token) return;
      const answer = await downloadDocument(token, doc.id);
      if (!answer.blob) {
        store.update({ roomError: explainProblem(answer) });
        return;
      }
      const url = URL.createObjectURL(answer.blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = doc.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    /** @param {string} id */
    removeDocument: (id) => ask({ type: 'remove_document', document: id }),
  };

  // The owner's "Join" on the account pages: join at once with what it gave.
  const handed = takeHandover();
  if (handed) actions.join(handed);
  else actions.preview();

  // For diagnostics and the browser tests.
  const diagnostics = {
    async stats() {
      const s = store.get();
      return { mode: s.media.mode, me: s.me, tiles: s.tiles.length, inbound: await media.stats() };
    },
    /** @param {'publish' | 'subscribe' | 'peer'} pc */
    transceivers: (pc) => media.transceivers(pc),
    connections: () => media.describe(),
    /** The candidate each connection's media goes through. */
    paths: () => media.paths(),
    /** What the page sends of its video, per simulcast layer. */
    sent: () => media.sent(),
    /** The live video tracks this page's connections send (camera and screen). */
    sendingVideo: () => media.sendingVideo(),
    /** Closes the WebSocket as a network drop would. */
    dropConnection: () => connection.drop(),
  };

  return { store, actions, diagnostics };
}

/** @typedef {ReturnType<typeof createSession>['actions']} Actions */

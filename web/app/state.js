// The app's state and the one place it changes. Views read it; the session
// (session.js) writes it, from what the server says (`applyEvent`) and what
// the person does. State is replaced, never mutated, so a view re-renders
// exactly when something it shows changed.

/** @typedef {import('./types.js').Participant} Participant */
/** @typedef {import('./types.js').ChatMessage} ChatMessage */
/** @typedef {import('./types.js').Block} Block */
/** @typedef {import('./types.js').DocumentInfo} DocumentInfo */
/** @typedef {import('./types.js').Audience} Audience */
/** @typedef {import('./types.js').MediaMode} MediaMode */
/** @typedef {import('./types.js').Tile} Tile */
/** @typedef {import('./types.js').Message} Message */
/** @typedef {{id: string, label: string}} Device a camera or microphone the pickers offer */

/**
 * @typedef {object} State
 * @property {'join' | 'waiting' | 'room' | 'closed'} phase
 * @property {boolean} joining a join is on its way
 * @property {string} joinError the last refusal, in plain words
 * @property {boolean} needsSecurity the server asked for the security code
 * @property {string | null} me this page's participant id
 * @property {'moderator' | 'participant'} role
 * @property {string} title
 * @property {Participant[]} participants in the order they came
 * @property {boolean} locked
 * @property {boolean} recording
 * @property {{chat: Audience, share: Audience}} permissions
 * @property {ChatMessage[]} chat
 * @property {DocumentInfo[]} documents
 * @property {{name: string, fraction: number} | null} upload a document on its way up
 * @property {Block[]} blocks moderators only
 * @property {MediaMode} media
 * @property {string | null} speaker the active speaker's id
 * @property {Tile[]} tiles
 * @property {import('./types.js').WaitingRoom} waitingRoom the room's setting
 * @property {import('./types.js').Waiter[]} waiting moderators: who waits, in the order they came
 * @property {boolean} micOn
 * @property {boolean} cameraOn this page sends its camera
 * @property {boolean} cameraBusy the camera is being turned on or off
 * @property {MediaStream | null} preview the join form's camera and microphone
 * @property {{cameras: Device[], microphones: Device[]}} devices what the pickers offer
 * @property {{camera: string, microphone: string}} chosen device ids; '' is the browser's default
 * @property {boolean} sharing this page shares its screen
 * @property {boolean} speakerView one large tile instead of the grid
 * @property {'ok' | 'resuming'} link the WebSocket, once seated
 * @property {string} roomError the last refused request, in plain words
 * @property {string} closedReason why this page is out of the room
 * @property {{name: string | null, phone: boolean, reason: string} | null} knock moderators: the last person turned away
 * @property {boolean} sounds whether this page plays its cues
 * @property {Record<string, import('./types.js').Reception>} reception moderators: how well each participant receives, by id
 */

/** @returns {State} */
export function initialState() {
  return {
    phase: 'join',
    joining: false,
    joinError: '',
    needsSecurity: false,
    me: null,
    role: 'participant',
    title: '',
    participants: [],
    locked: false,
    recording: false,
    permissions: { chat: 'everyone', share: 'everyone' },
    chat: [],
    documents: [],
    upload: null,
    blocks: [],
    media: { mode: 'sfu', peer: null, offerer: false },
    speaker: null,
    tiles: [],
    waitingRoom: 'off',
    waiting: [],
    micOn: true,
    cameraOn: true,
    cameraBusy: false,
    preview: null,
    devices: { cameras: [], microphones: [] },
    chosen: { camera: '', microphone: '' },
    sharing: false,
    speakerView: false,
    link: 'ok',
    roomError: '',
    closedReason: '',
    knock: null,
    sounds: true,
    reception: {},
  };
}

/**
 * @template S
 * @typedef {object} Store
 * @property {() => S} get
 * @property {(change: Partial<S> | ((s: S) => Partial<S>)) => void} update
 * @property {(listener: (s: S) => void) => () => void} subscribe
 */

/**
 * Whether this page may share documents and screens (the server decides;
 * this only explains a disabled control).
 * @param {State} s
 */
export function mayShare(s) {
  return s.permissions.share === 'everyone' || s.role === 'moderator';
}

/**
 * A minimal observable store.
 * @template S
 * @param {S} initial
 * @returns {Store<S>}
 */
export function createStore(initial) {
  let state = initial;
  /** @type {Set<(s: S) => void>} */
  const listeners = new Set();
  return {
    get: () => state,
    update(change) {
      const patch = typeof change === 'function' ? change(state) : change;
      state = { ...state, ...patch };
      for (const listener of listeners) listener(state);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * @param {Participant[]} list
 * @param {string} id
 * @param {Partial<Participant>} change
 */
function patchParticipant(list, id, change) {
  return list.map((p) => (p.id === id ? { ...p, ...change } : p));
}

/**
 * What a room event (docs/protocol.md "Events") changes in the state.
 * Media signalling is not here: media.js handles it.
 * @param {State} s
 * @param {Message} m
 * @returns {Partial<State>}
 */
export function applyEvent(s, m) {
  switch (m.type) {
    case 'room':
      // A fresh snapshot: start afresh from it.
      return {
        me: m.you,
        role: m.role,
        locked: m.locked,
        recording: m.recording,
        permissions: m.permissions,
        participants: m.participants,
        chat: m.chat,
        documents: m.documents || [],
        media: m.media,
        waitingRoom: m.waiting_room || 'off',
        waiting: m.waiting || [],
      };
    case 'participant_joined':
      return { participants: [...s.participants.filter((p) => p.id !== m.participant.id), m.participant] };
    case 'participant_left':
      return {
        participants: s.participants.filter((p) => p.id !== m.participant),
        tiles: s.tiles.filter((t) => t.owner !== m.participant),
      };
    case 'muted':
      return { participants: patchParticipant(s.participants, m.participant, { muted: m.muted }) };
    case 'role_changed':
      return {
        participants: patchParticipant(s.participants, m.participant, { role: m.role }),
        // Promoted or demoted: this page's tools follow.
        ...(m.participant === s.me ? { role: m.role } : {}),
      };
    case 'caller_named':
      return { participants: patchParticipant(s.participants, m.participant, { name: m.name }) };
    case 'locked':
      return { locked: true };
    case 'unlocked':
      return { locked: false };
    case 'permission_changed':
      return { permissions: { ...s.permissions, [m.permission]: m.audience } };
    case 'recording':
      return { recording: m.on };
    case 'blocked':
      return { blocks: [...s.blocks.filter((b) => b.id !== m.block.id), m.block] };
    case 'unblocked':
      return { blocks: s.blocks.filter((b) => b.id !== m.block.id) };
    case 'chat':
      return { chat: [...s.chat, m.message] };
    case 'chat_deleted':
      return { chat: s.chat.map((c) => (c.id === m.message ? { ...c, text: null, deleted: true } : c)) };
    case 'document_added':
      return { documents: [...s.documents, m.document] };
    case 'document_removed':
      return { documents: s.documents.filter((d) => d.id !== m.document) };
    case 'active_speaker':
      return { speaker: m.participant };
    case 'connection_quality':
      return { reception: Object.fromEntries(m.participants.map((/** @type {import('./types.js').Reception} */ r) => [r.participant, r])) };
    case 'waiting_room':
      return { waitingRoom: m.setting };
    case 'waiting_joined':
      return { waiting: [...s.waiting.filter((w) => w.id !== m.waiter.id), m.waiter] };
    case 'waiting_left':
      return { waiting: s.waiting.filter((w) => w.id !== m.participant) };
    case 'join_refused':
      return { knock: { name: m.name, phone: m.phone, reason: m.reason } };
    case 'media_mode':
      return { media: { mode: m.mode, peer: m.peer, offerer: m.offerer } };
    default:
      return {};
  }
}

'use strict';
// The meeting room. It speaks docs/protocol.md over /ws: joins, keeps the
// participant list and chat, publishes the microphone and camera, and
// shows everyone else's media, through the server (SFU) or, when the room
// says two may talk directly, peer to peer. The server enforces the room's
// rules; this page only shows them.

const $ = (id) => document.getElementById(id);

const state = {
  ws: null,
  nextId: 0,
  pending: new Map(), // request id -> resolve
  me: null,
  participants: new Map(), // id -> participant
  media: { mode: 'sfu', peer: null, offerer: false },
  iceServers: [],
  local: null, // MediaStream (may have no tracks)
  localReady: null, // Promise settled once the devices answered
  pcs: {}, // 'publish' | 'subscribe' | 'peer' -> RTCPeerConnection
  queues: {}, // per connection: signalling runs in order
  tiles: new Map(), // participant id -> { tile, video, stream }
  speaker: null,
};

function send(message) {
  const id = String(++state.nextId);
  state.ws.send(JSON.stringify({ ...message, id }));
  return new Promise((resolve) => state.pending.set(id, resolve));
}

function showError(where, answer) {
  $(where).textContent = answer && answer.type === 'error' ? `${answer.message} (${answer.code})` : '';
}

// ---- joining ----

$('join').addEventListener('submit', (event) => {
  event.preventDefault();
  $('join_button').disabled = true;
  const value = (id) => $(id).value.trim() || null;
  const join = {
    type: 'join',
    access_code: value('access_code'),
    security_code: value('security_code'),
    moderator_pin: value('moderator_pin'),
    name: value('name'),
  };
  const go = () => send(join).then(onJoinAnswer);
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    go(); // a refused join keeps the connection for another try
    return;
  }
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  state.ws = new WebSocket(`${scheme}://${location.host}/ws`);
  state.ws.onopen = go;
  state.ws.onmessage = (e) => onMessage(JSON.parse(e.data));
  state.ws.onclose = (e) => {
    if (!$('room').hidden || e.reason) closed(e.reason || 'connection lost');
    state.ws = null;
    $('join_button').disabled = false;
  };
});

function onJoinAnswer(answer) {
  $('join_button').disabled = false;
  if (answer.type !== 'joined') {
    showError('join_error', answer);
    return;
  }
  state.me = answer.participant;
  state.iceServers = answer.ice_servers || [];
  $('join').hidden = true;
  $('room').hidden = false;
  $('title').textContent = answer.title || 'Conference';
  state.localReady = navigator.mediaDevices
    .getUserMedia({ audio: true, video: { width: 640, height: 480, frameRate: 15 } })
    .catch(() => new MediaStream()) // no devices, or refused: receive only
    .then((stream) => {
      state.local = stream;
      tileFor(state.me, true).video.srcObject = stream;
      applyMode();
    });
}

// ---- what the server says ----

function onMessage(m) {
  if (m.id !== undefined && state.pending.has(m.id)) {
    state.pending.get(m.id)(m);
    state.pending.delete(m.id);
    return;
  }
  switch (m.type) {
    case 'room':
      state.me = m.you;
      state.participants = new Map(m.participants.map((p) => [p.id, p]));
      $('recording').hidden = !m.recording;
      $('locked').hidden = !m.locked;
      $('chat').replaceChildren();
      m.chat.forEach(addChat);
      renderParticipants();
      state.media = m.media;
      applyMode();
      break;
    case 'participant_joined':
      state.participants.set(m.participant.id, m.participant);
      renderParticipants();
      break;
    case 'participant_left':
      state.participants.delete(m.participant);
      dropTile(m.participant);
      renderParticipants();
      break;
    case 'muted':
    case 'role_changed':
    case 'caller_named': {
      const p = state.participants.get(m.participant);
      if (p) {
        if (m.type === 'muted') p.muted = m.muted;
        if (m.type === 'role_changed') p.role = m.role;
        if (m.type === 'caller_named') p.name = m.name;
      }
      renderParticipants();
      break;
    }
    case 'locked':
    case 'unlocked':
      $('locked').hidden = m.type === 'unlocked';
      break;
    case 'recording':
      $('recording').hidden = !m.on;
      break;
    case 'chat':
      addChat(m.message);
      break;
    case 'chat_deleted': {
      const li = document.querySelector(`#chat li[data-id="${CSS.escape(m.message)}"]`);
      if (li) li.textContent = '(deleted)';
      break;
    }
    case 'active_speaker':
      state.speaker = m.participant;
      renderParticipants();
      for (const [id, t] of state.tiles) t.tile.classList.toggle('speaking', id === m.participant);
      break;
    case 'media_mode':
      state.media = { mode: m.mode, peer: m.peer, offerer: m.offerer };
      applyMode();
      break;
    case 'media_offer':
      onOffer(m.pc, m.sdp);
      break;
    case 'media_answer':
      inOrder(m.pc, async () => {
        const pc = state.pcs[m.pc];
        if (pc) await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp });
      });
      break;
    case 'media_candidate':
      inOrder(m.pc, async () => {
        const pc = state.pcs[m.pc];
        if (pc && m.candidate) await pc.addIceCandidate(m.candidate).catch(() => {});
      });
      break;
    case 'media_reset':
      closePc('publish');
      closePc('subscribe');
      applyMode();
      break;
    case 'closed':
      closed(m.reason);
      break;
    default:
      break; // documents and the rest: not shown by this page yet
  }
}

// ---- media ----

function inOrder(name, step) {
  const before = state.queues[name] || Promise.resolve();
  state.queues[name] = before.then(step).catch((e) => console.warn(name, e));
  return state.queues[name];
}

function newPc(name) {
  const pc = new RTCPeerConnection({ iceServers: state.iceServers });
  pc.onicecandidate = (e) => {
    if (e.candidate) send({ type: 'media_candidate', pc: name, candidate: e.candidate.toJSON() });
  };
  pc.ontrack = (e) => {
    // Through the server a track's stream is its publisher's id; peer to
    // peer, everything is the peer's.
    const who = name === 'peer' ? state.media.peer : e.streams[0] && e.streams[0].id;
    if (who) showTrack(who, e.track);
  };
  if (name === 'subscribe') {
    // The direct call, if any, stays until the server carries media.
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected' && state.media.mode === 'sfu') closePc('peer');
    };
  }
  state.pcs[name] = pc;
  return pc;
}

function closePc(name) {
  const pc = state.pcs[name];
  if (!pc) return;
  pc.close();
  delete state.pcs[name];
  delete state.queues[name];
}

function sourceOf(track) {
  return track.kind === 'audio' ? 'microphone' : 'camera';
}

// What the room's media mode asks of this page, once the devices answered.
function applyMode() {
  if (!state.local) return;
  if (state.media.mode === 'p2p') {
    $('mode').textContent = 'End-to-end encrypted';
    $('mode').className = 'e2e';
    // The server closed its connections with us.
    closePc('publish');
    closePc('subscribe');
    if (state.media.offerer && !state.pcs.peer) {
      inOrder('peer', async () => {
        const pc = peerPc();
        await pc.setLocalDescription(await pc.createOffer());
        await send({ type: 'media_offer', pc: 'peer', sdp: pc.localDescription.sdp });
      });
    }
  } else {
    $('mode').textContent = 'Encrypted to the server';
    $('mode').className = '';
    if (!state.pcs.publish && state.local.getTracks().length > 0) publish();
  }
}

function peerPc() {
  const pc = newPc('peer');
  const tracks = state.local.getTracks();
  tracks.forEach((t) => pc.addTrack(t, state.local));
  for (const kind of ['audio', 'video']) {
    if (!tracks.some((t) => t.kind === kind)) pc.addTransceiver(kind, { direction: 'recvonly' });
  }
  return pc;
}

function publish() {
  inOrder('publish', async () => {
    const pc = newPc('publish');
    const tracks = {};
    for (const t of state.local.getTracks()) {
      pc.addTransceiver(t, { direction: 'sendonly', streams: [state.local] });
      tracks[t.id] = sourceOf(t);
    }
    await pc.setLocalDescription(await pc.createOffer());
    const answer = await send({ type: 'media_offer', pc: 'publish', sdp: pc.localDescription.sdp, tracks });
    // The room went end to end before the offer arrived: the mode change
    // that says so closes this connection.
    if (answer && answer.code === 'wrong_media_mode') return;
    showError('room_error', answer);
  });
}

function onOffer(name, sdp) {
  const needsLocal = name === 'peer';
  // Peer to peer, the server serves no connection of ours.
  if (!needsLocal && state.media.mode === 'p2p') return;
  inOrder(name, async () => {
    if (needsLocal) await state.localReady;
    let pc = state.pcs[name];
    if (!pc) {
      pc = newPc(name);
      if (needsLocal) state.local.getTracks().forEach((t) => pc.addTrack(t, state.local));
    }
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await send({ type: 'media_answer', pc: name, sdp: pc.localDescription.sdp });
  });
}

// ---- the page ----

function tileFor(id, mine) {
  let t = state.tiles.get(id);
  if (!t) {
    const tile = document.createElement('div');
    tile.className = 'tile';
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = !!mine; // never play one's own microphone back
    const label = document.createElement('span');
    tile.append(video, label);
    $('videos').append(tile);
    t = { tile, video, label, stream: new MediaStream() };
    if (!mine) video.srcObject = t.stream;
    state.tiles.set(id, t);
  }
  const p = state.participants.get(id);
  t.label.textContent = mine ? 'You' : (p && p.name) || '';
  return t;
}

function showTrack(who, track) {
  const t = tileFor(who, false);
  // A newer track of the same kind (the call moved to the server) takes
  // the place of the old one.
  for (const old of t.stream.getTracks()) {
    if (old.kind === track.kind && old !== track) t.stream.removeTrack(old);
  }
  t.stream.addTrack(track);
  t.video.play().catch(() => {});
}

function dropTile(id) {
  const t = state.tiles.get(id);
  if (t) t.tile.remove();
  state.tiles.delete(id);
}

function renderParticipants() {
  const list = $('participants');
  list.replaceChildren();
  for (const p of state.participants.values()) {
    const li = document.createElement('li');
    const notes = [p.role === 'moderator' ? 'moderator' : null, p.phone ? p.number : null, p.muted ? 'muted' : null];
    li.textContent = `${p.name}${p.id === state.me ? ' (you)' : ''}${notes.filter(Boolean).map((n) => ` · ${n}`).join('')}`;
    li.classList.toggle('speaking', p.id === state.speaker);
    list.append(li);
    if (state.tiles.has(p.id)) tileFor(p.id, p.id === state.me);
  }
}

function addChat(message) {
  const li = document.createElement('li');
  li.dataset.id = message.id;
  li.textContent = message.deleted ? '(deleted)' : `${message.from_name}: ${message.text}`;
  $('chat').append(li);
}

$('chat_form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('chat_text').value;
  if (!text.trim()) return;
  const answer = await send({ type: 'chat', text });
  showError('room_error', answer);
  if (answer.type === 'ack') $('chat_text').value = '';
});

$('mute_self').addEventListener('click', () => {
  const audio = state.local ? state.local.getAudioTracks() : [];
  const on = audio.some((t) => t.enabled);
  audio.forEach((t) => (t.enabled = !on));
  $('mute_self').textContent = on ? 'Unmute' : 'Mute';
});

$('leave').addEventListener('click', async () => {
  await send({ type: 'leave' });
  closed('left');
});

function closed(reason) {
  for (const name of Object.keys(state.pcs)) closePc(name);
  if (state.local) state.local.getTracks().forEach((t) => t.stop());
  $('room').hidden = true;
  $('closed').hidden = false;
  $('closed').textContent = `You are out of the conference: ${reason}.`;
}

// For diagnostics (and the browser test): what this page receives, per
// connection and kind.
window.conclave = {
  async stats() {
    const inbound = [];
    for (const [pc, conn] of Object.entries(state.pcs)) {
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
    return { mode: state.media.mode, me: state.me, tiles: state.tiles.size, inbound };
  },
  transceivers(pc) {
    return state.pcs[pc] ? state.pcs[pc].getTransceivers().length : 0;
  },
};

// Short tones that tell people what changed without looking: someone came
// or went, someone was turned away, the lock, the recording, your seat.
// They are synthesised (Web Audio), so there are no sound files to serve,
// and each cue has its own shape so they tell apart. The person can turn
// them off; the choice is kept in this browser.

/** @typedef {'joined' | 'left' | 'knock' | 'locked' | 'unlocked' | 'recording' | 'recordingStopped' | 'removed' | 'resuming' | 'resumed'} Cue */

/** @type {Record<Cue, [number, number][]>} each note: frequency (Hz), length (s) */
export const CUES = {
  joined: [[523, 0.09], [659, 0.14]],
  left: [[659, 0.09], [523, 0.14]],
  knock: [[784, 0.08], [988, 0.08], [784, 0.14]],
  locked: [[440, 0.18]],
  unlocked: [[587, 0.18]],
  recording: [[1047, 0.08], [1047, 0.12]],
  recordingStopped: [[698, 0.18]],
  removed: [[330, 0.15], [262, 0.3]],
  resuming: [[392, 0.2]],
  resumed: [[392, 0.08], [523, 0.14]],
};

const KEY = 'conclave.sounds';

export class Sounds {
  constructor() {
    /** @type {AudioContext | null} */
    this.context = null;
    this.on = read() !== 'off';
  }

  /**
   * Browsers let a page make sound only after a click or key press: the
   * join button calls this.
   */
  wake() {
    if (!this.context && typeof AudioContext === 'function') this.context = new AudioContext();
    if (this.context && this.context.state === 'suspended') this.context.resume().catch(() => {});
  }

  /** @param {boolean} on */
  set(on) {
    this.on = on;
    write(on ? 'on' : 'off');
  }

  /** @param {Cue} cue */
  play(cue) {
    const ctx = this.context;
    if (!this.on || !ctx) return;
    let at = ctx.currentTime + 0.01;
    for (const [frequency, length] of CUES[cue]) {
      const tone = ctx.createOscillator();
      const gain = ctx.createGain();
      tone.type = 'sine';
      tone.frequency.value = frequency;
      // A soft start and end, so no click.
      gain.gain.setValueAtTime(0, at);
      gain.gain.linearRampToValueAtTime(0.15, at + 0.01);
      gain.gain.linearRampToValueAtTime(0, at + length);
      tone.connect(gain).connect(ctx.destination);
      tone.start(at);
      tone.stop(at + length);
      at += length + 0.02;
    }
  }
}

// Storage can be refused (a private window, a policy): sounds then stay on.
function read() {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

/** @param {string} value */
function write(value) {
  try {
    localStorage.setItem(KEY, value);
  } catch {
    // kept for this page only
  }
}

/** Join and leave tones stop above this many people: they would be noise. */
export const QUIET_ABOVE = 12;

/**
 * The cue a room event calls for, seen from this page (after the state
 * took the event in); `null` for none. What this page did itself is not
 * sounded back to it, but the recording is, for everyone.
 * @param {import('./state.js').State} s
 * @param {import('./types.js').Message} m
 * @returns {Cue | null}
 */
export function cueFor(s, m) {
  const few = s.participants.length <= QUIET_ABOVE;
  switch (m.type) {
    case 'participant_joined':
      return few && m.participant.id !== s.me ? 'joined' : null;
    case 'participant_left':
      return few && m.participant !== s.me ? 'left' : null;
    case 'join_refused':
    case 'waiting_joined':
      return 'knock';
    case 'locked':
      return m.by !== s.me ? 'locked' : null;
    case 'unlocked':
      return m.by !== s.me ? 'unlocked' : null;
    case 'recording':
      return m.on ? 'recording' : 'recordingStopped';
    default:
      return null;
  }
}

// What the server's codes mean, in plain words for the person at the page.

/** @typedef {import('./types.js').Message} Message */

/** @type {Record<string, string>} */
const REFUSALS = {
  invalid_credentials: 'The access code or the security code is wrong.',
  security_code_required: 'This conference needs its security code.',
  invalid_moderator_pin: 'The moderator PIN is wrong.',
  locked: 'The conference is locked: only a moderator PIN lets you in now.',
  blocked: 'A moderator has blocked you from this conference.',
  room_full: 'The conference is full.',
  denied: 'A moderator did not let you in: try again later.',
  too_many_waiting: 'Too many people are already waiting from your network: try again later.',
  invalid_join_token: 'This join link is not valid (or no longer is): ask for a new one.',
  expired_join_token: 'This join link has expired: ask for a new one.',
  used_join_token: 'This join link was already used: ask for a new one.',
  busy: 'The server is busy: try again in a moment.',
  unavailable: 'The conference cannot be opened right now: try again shortly.',
  unauthorized: 'Sign in again: your session has expired.',
  connection_lost: 'The server cannot be reached.',
};

/** @type {Record<string, string>} */
const ERRORS = {
  forbidden: 'Only moderators may do that.',
  not_permitted: 'The moderators have kept that for themselves.',
  unknown_participant: 'That person is no longer here.',
  invalid_target: 'That cannot be done to this person.',
  invalid_text: 'That text cannot be sent: it is empty, too long or has control characters.',
  rate_limited: 'Too many requests at once: try again in a moment.',
  connection_lost: 'The connection dropped: try again once it is back.',
};

/** @type {Record<string, string>} */
const CLOSED = {
  left: 'You left the conference.',
  removed: 'A moderator removed you from the conference.',
  blocked: 'A moderator removed you and blocked you from coming back.',
  room_closed: 'The conference has ended.',
  replaced: 'You joined this conference from another window, which now holds your seat.',
  dropped: 'The connection was lost for too long and your seat is gone. Join again.',
  not_in_room: 'Your seat is gone: a moderator removed you while your connection was away, or the conference ended.',
  throttled: 'Too many failed attempts: wait a while before trying again.',
  server_shutdown: 'The server is restarting. Join again in a moment.',
  slow_consumer: 'The connection was too slow to keep up.',
  denied: 'A moderator did not let you in. You may try again later.',
  wait_expired: 'Nobody let you in: the wait ran out. Join again to ask once more.',
};

/** Why someone waits, for the moderators who decide. */
/** @type {Record<string, string>} */
export const WAIT_REASONS = {
  setting: 'the room has a waiting room',
  after_block: 'a new guest after someone was blocked: check the name',
  codes_guessed: 'someone is guessing this conference\'s codes: admit only people you expect',
};

/**
 * A refused join, with the server's code in brackets for support.
 * @param {Message} answer
 */
export function explainRefusal(answer) {
  let words = REFUSALS[answer.code];
  if (answer.code === 'throttled') {
    const wait = /(\d+) s/.exec(answer.message || '');
    words = `Too many failed attempts: try again in ${wait ? wait[1] : 'a few'} seconds.`;
  }
  return `${words || answer.message} (${answer.code})`;
}

/**
 * A refused request in the room.
 * @param {Message} answer
 */
export function explainError(answer) {
  return `${ERRORS[answer.code] || answer.message} (${answer.code})`;
}

/** @type {Record<string, string>} */
const PROBLEMS = {
  not_permitted: 'Only moderators may share here: a moderator chose so in the settings.',
  payload_too_large: 'That file is too large to share.',
  unknown_document: 'That document is no longer shared.',
  not_in_room: 'Your seat is gone: join again.',
  unauthorized: 'Your seat is gone: join again.',
  unavailable: 'The server cannot store it right now: try again shortly.',
  connection_lost: 'The server cannot be reached.',
};

/**
 * A refused REST request (an `application/problem+json` body).
 * @param {{status: number, body: any}} answer
 */
export function explainProblem(answer) {
  const code = (answer.body && answer.body.code) || `http_${answer.status}`;
  const words = PROBLEMS[code] || (answer.body && answer.body.title) || 'The server refused it.';
  return `${words} (${code})`;
}

/** @param {string} reason why the seat ended */
export function explainClosed(reason) {
  return `${CLOSED[reason] || `You are out of the conference: ${reason}.`} (${reason})`;
}

/** @type {Record<string, string>} */
const KNOCKS = {
  locked: 'the conference is locked',
  room_full: 'the conference is full',
  blocked: 'they are blocked',
};

/**
 * A moderator's notice of someone turned away at the door.
 * @param {{name: string | null, phone: boolean, reason: string}} knock
 */
export function explainKnock(knock) {
  const who = knock.name ? `${knock.name}${knock.phone ? ' (by phone)' : ''}` : knock.phone ? 'A caller' : 'Someone';
  return `${who} could not join: ${KNOCKS[knock.reason] || knock.reason}.`;
}

// The only module that calls the REST API (docs/api.md). The room's
// documents are authorised by the seat: its resume token as a bearer token.

/**
 * @typedef {{status: number, body: any}} ApiAnswer
 * The body is the parsed JSON (a problem body on errors), or null.
 */

/**
 * @param {string} method
 * @param {string} path under /api/v1
 * @param {{token?: string | null, json?: unknown, body?: BodyInit, contentType?: string}} [options]
 * @returns {Promise<ApiAnswer>}
 */
export async function call(method, path, options = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body = options.body;
  if (options.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.contentType) {
    headers['Content-Type'] = options.contentType;
  }
  const res = await fetch(`/api/v1${path}`, { method, headers, body });
  const type = res.headers.get('content-type') || '';
  const parsed = type.includes('json') ? await res.json() : null;
  return { status: res.status, body: parsed };
}

/**
 * Shares a file in the room. `fetch` cannot report an upload's progress,
 * so this one request goes through XMLHttpRequest.
 * @param {string} seatToken the `resume_token` of `joined`
 * @param {File} file
 * @param {(fraction: number) => void} [progress] 0 to 1, as the bytes leave
 * @returns {Promise<ApiAnswer>}
 */
export function uploadDocument(seatToken, file, progress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/room/documents?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader('Authorization', `Bearer ${seatToken}`);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => {
      if (progress && e.lengthComputable) progress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: no body worth reading
      }
      resolve({ status: xhr.status, body });
    };
    xhr.onerror = () => resolve({ status: 0, body: { code: 'connection_lost', detail: 'the upload did not reach the server' } });
    xhr.send(file);
  });
}

// ---- The account pages (docs/api.md): every call carries the account's
// token, kept by app/account/auth.js.

/**
 * @param {string} email
 * @param {string} password
 * @param {string} displayName
 */
export const signUp = (email, password, displayName) =>
  call('POST', '/accounts', { json: { email, password, display_name: displayName } });

/**
 * @param {string} email
 * @param {string} password
 */
export const signIn = (email, password) => call('POST', '/sessions', { json: { email, password } });

/** @param {string} token */
export const signOut = (token) => call('DELETE', '/sessions/current', { token });

/** @param {string} token */
export const account = (token) => call('GET', '/account', { token });

/**
 * Deletes the account and everything it holds (docs/api.md); the password
 * is asked again. 204 when done: the token stops working at once.
 * @param {string} token
 * @param {string} password
 */
export const deleteAccount = (token, password) => call('DELETE', '/account', { token, json: { password } });

/** @param {string} token */
export const line = (token) => call('GET', '/account/line', { token });

/** @param {string} token */
export const resetAccessCode = (token) => call('POST', '/account/line/access-code/reset', { token });

/** @param {string} token */
export const resetModeratorPin = (token) => call('POST', '/account/line/moderator-pin/reset', { token });

/**
 * Sets the default security code, or removes it with `null`.
 * @param {string} token
 * @param {string | null} code
 */
export const setDefaultSecurityCode = (token, code) =>
  code === null
    ? call('DELETE', '/account/default-security-code', { token })
    : call('PUT', '/account/default-security-code', { token, json: { security_code: code } });

/** @param {string} token */
export const apiKeys = (token) => call('GET', '/account/api-keys', { token });

/**
 * @param {string} token
 * @param {string} name
 */
export const createApiKey = (token, name) => call('POST', '/account/api-keys', { token, json: { name } });

/**
 * @param {string} token
 * @param {string} id
 */
export const revokeApiKey = (token, id) => call('DELETE', `/account/api-keys/${encodeURIComponent(id)}`, { token });

// ---- Webhook endpoints (docs/webhooks.md): the secret shows once, at creation.

/** @param {string} token */
export const webhooks = (token) => call('GET', '/account/webhooks', { token });

/**
 * @param {string} token
 * @param {string} url
 * @param {string[]} events
 */
export const createWebhook = (token, url, events) => call('POST', '/account/webhooks', { token, json: { url, events } });

/**
 * @param {string} token
 * @param {string} id
 */
export const deleteWebhook = (token, id) => call('DELETE', `/account/webhooks/${encodeURIComponent(id)}`, { token });

/**
 * An endpoint's latest deliveries, newest first.
 * @param {string} token
 * @param {string} id
 * @param {number} limit
 */
export const webhookDeliveries = (token, id, limit) =>
  call('GET', `/account/webhooks/${encodeURIComponent(id)}/deliveries?limit=${limit}`, { token });

/**
 * Sends a failed delivery again.
 * @param {string} token
 * @param {string} id
 * @param {number} seq
 */
export const retryDelivery = (token, id, seq) =>
  call('POST', `/account/webhooks/${encodeURIComponent(id)}/deliveries/${seq}/retry`, { token });

/**
 * The retention of the account's organisation, `{summary_days, chat_days}`
 * in days (`null`: kept until deleted by hand). Only its admins set it.
 * @param {string} token
 */
export const retention = (token) => call('GET', '/organisation/retention', { token });

/**
 * @param {string} token
 * @param {number | null} summaryDays
 * @param {number | null} chatDays
 */
export const setRetention = (token, summaryDays, chatDays) =>
  call('PUT', '/organisation/retention', { token, json: { summary_days: summaryDays, chat_days: chatDays } });

/** @param {string} token */
export const organisation = (token) => call('GET', '/organisation', { token });

/**
 * @param {string} token
 * @param {string} name
 */
export const renameOrganisation = (token, name) => call('PUT', '/organisation', { token, json: { name } });

/** @param {string} token */
export const organisationMembers = (token) => call('GET', '/organisation/members', { token });

/**
 * @param {string} token
 * @param {string} account
 * @param {string} role `admin` or `member`
 */
export const setMemberRole = (token, account, role) =>
  call('PUT', `/organisation/members/${encodeURIComponent(account)}`, { token, json: { role } });

/**
 * Removes a member, or, for the account itself, leaves.
 * @param {string} token
 * @param {string} account
 */
export const removeMember = (token, account) =>
  call('DELETE', `/organisation/members/${encodeURIComponent(account)}`, { token });

/** @param {string} token */
export const organisationInvitations = (token) => call('GET', '/organisation/invitations', { token });

/**
 * @param {string} token
 * @param {string} email
 */
export const invite = (token, email) => call('POST', '/organisation/invitations', { token, json: { email } });

/**
 * @param {string} token
 * @param {string} id
 */
export const revokeInvitation = (token, id) =>
  call('DELETE', `/organisation/invitations/${encodeURIComponent(id)}`, { token });

/** @param {string} token */
export const myInvitations = (token) => call('GET', '/account/invitations', { token });

/**
 * @param {string} token
 * @param {string} id
 */
export const acceptInvitation = (token, id) =>
  call('POST', `/account/invitations/${encodeURIComponent(id)}/accept`, { token });

/** @param {string} token */
export const waitingRoomDefault = (token) => call('GET', '/account/waiting-room', { token });

/**
 * @param {string} token
 * @param {string} setting `off`, `everyone` or `unknown_guests`
 */
export const setWaitingRoomDefault = (token, setting) =>
  call('PUT', '/account/waiting-room', { token, json: { waiting_room: setting } });

/**
 * How a conference's security code is chosen (docs/api.md).
 * @typedef {{mode: 'none' | 'default'} | {mode: 'own', security_code: string}} SecurityChoice
 */

/** @param {string} token */
export const conferences = (token) => call('GET', '/conferences', { token });

/**
 * @param {string} token
 * @param {{title: string, starts_at: string, ends_at: string, security: SecurityChoice}} body
 */
export const schedule = (token, body) => call('POST', '/conferences', { token, json: body });

/**
 * @param {string} token
 * @param {string} id
 */
export const conference = (token, id) => call('GET', `/conferences/${encodeURIComponent(id)}`, { token });

/**
 * @param {string} token
 * @param {string} id
 * @param {SecurityChoice} choice
 */
export const setConferenceSecurity = (token, id, choice) =>
  call('PUT', `/conferences/${encodeURIComponent(id)}/security-code`, { token, json: choice });

/**
 * The account's meetings over all its conferences, newest first, a page at
 * a time: `from` and `to` are days (`YYYY-MM-DD`, UTC) or '', `after` the
 * `next` of the page before or ''; `scope` `organisation` gives every
 * member's (for an admin).
 * @param {string} token
 * @param {{from: string, to: string, after: string, scope?: string}} page
 */
export const meetings = (token, page) => {
  const q = new URLSearchParams({ limit: '20' });
  if (page.from) q.set('from', page.from);
  if (page.to) q.set('to', page.to);
  if (page.after) q.set('after', page.after);
  if (page.scope === 'organisation') q.set('scope', 'organisation');
  return call('GET', `/reports/sessions?${q}`, { token });
};

/**
 * A conference's history: `sessions` (with attendance), `audit` or `chat`.
 * @param {string} token
 * @param {string} id
 * @param {'sessions' | 'audit' | 'chat' | 'recordings'} what
 */
export const history = (token, id, what) => call('GET', `/conferences/${encodeURIComponent(id)}/${what}`, { token });

/**
 * Deletes a conference's summary: past sessions, attendance, audit, chat,
 * documents and recordings. The conference and its codes stay.
 * @param {string} token
 * @param {string} id
 */
export const deleteHistory = (token, id) => call('DELETE', `/conferences/${encodeURIComponent(id)}/history`, { token });

/**
 * @param {string} id
 * @param {string} recording
 * @param {string} [file] one file; without it, the whole recording
 */
function recordingPath(id, recording, file) {
  const base = `/conferences/${encodeURIComponent(id)}/recordings/${encodeURIComponent(recording)}`;
  return file === undefined ? base : `${base}/${encodeURIComponent(file)}`;
}

/**
 * Deletes one recorded file, or the whole recording.
 * @param {string} token
 * @param {string} id
 * @param {string} recording
 * @param {string} [file]
 */
export const deleteRecording = (token, id, recording, file) => call('DELETE', recordingPath(id, recording, file), { token });

/**
 * One recorded file's bytes. The token goes in a header, never the URL, so
 * the page fetches the file and plays or saves it from a blob.
 * @param {string} token
 * @param {string} id
 * @param {string} recording
 * @param {string} file
 * @returns {Promise<Blob | null>} null when refused
 */
export async function recordingFile(token, id, recording, file) {
  const res = await fetch(`/api/v1${recordingPath(id, recording, file)}`, { headers: { Authorization: `Bearer ${token}` } });
  return res.ok ? res.blob() : null;
}

/**
 * A shared document's bytes. The download needs the seat's token in a
 * header, which a plain link cannot send, so the page fetches it.
 * @param {string} seatToken
 * @param {string} id
 * @returns {Promise<{status: number, blob: Blob | null, body: any}>}
 */
export async function downloadDocument(seatToken, id) {
  const res = await fetch(`/api/v1/room/documents/${encodeURIComponent(id)}`, {
    headers: { Authorization: `Bearer ${seatToken}` },
  });
  if (!res.ok) {
    const type = res.headers.get('content-type') || '';
    return { status: res.status, blob: null, body: type.includes('json') ? await res.json() : null };
  }
  return { status: res.status, blob: await res.blob(), body: null };
}

/**
 * One session's attendance as the server's CSV (docs/api.md), fetched with
 * the token in a header; the file name is the server's (Content-Disposition).
 * @param {string} token
 * @param {string} id
 * @param {string} session
 * @returns {Promise<{status: number, blob: Blob | null, filename: string}>}
 */
export async function attendanceCsv(token, id, session) {
  const path = `/conferences/${encodeURIComponent(id)}/sessions/${encodeURIComponent(session)}/attendance.csv`;
  const res = await fetch(`/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) return { status: res.status, blob: null, filename: '' };
  const disposition = res.headers.get('content-disposition') || '';
  const filename = /filename="([^"]+)"/.exec(disposition)?.[1] || 'attendance.csv';
  return { status: res.status, blob: await res.blob(), filename };
}

// ---- The address book: callers a moderator named. A contact's id is an
// opaque hash of the number, never the number itself.

/** @param {string} token */
export const contacts = (token) => call('GET', '/account/contacts', { token });

/**
 * @param {string} token
 * @param {string} id
 * @param {string} name
 */
export const renameContact = (token, id, name) =>
  call('PUT', `/account/contacts/${encodeURIComponent(id)}`, { token, json: { name } });

/**
 * @param {string} token
 * @param {string} id
 */
export const deleteContact = (token, id) => call('DELETE', `/account/contacts/${encodeURIComponent(id)}`, { token });

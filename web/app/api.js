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
 * Shares a file in the room.
 * @param {string} seatToken the `resume_token` of `joined`
 * @param {File} file
 */
export function uploadDocument(seatToken, file) {
  return call('POST', `/room/documents?name=${encodeURIComponent(file.name)}`, {
    token: seatToken,
    body: file,
    contentType: file.type || 'application/octet-stream',
  });
}

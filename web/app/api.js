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

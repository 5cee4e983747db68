// The account pages hand a join over to the meeting page (docs/web.md
// "Account pages"): the codes and the account token go through this tab's
// sessionStorage, never a URL; `/#join` only says "there is one". The
// meeting page takes it once and forgets it, so a reload does not rejoin.
// An application sends its users to `/#join_token=<token>` (docs/tokens.md):
// the fragment never reaches the server's logs, and the page drops it from
// the address bar before joining with it.

/** @typedef {import('./types.js').JoinFields} JoinFields */

const KEY = 'conclave.join';

/**
 * Opens the meeting page in this tab, joining with `fields`.
 * @param {JoinFields} fields
 */
export function handOver(fields) {
  sessionStorage.setItem(KEY, JSON.stringify(fields));
  location.assign('/#join');
}

/**
 * The join handed over to this page, if any; taken once.
 * @returns {JoinFields | null}
 */
export function takeHandover() {
  const token = /^#join_token=([A-Za-z0-9_.-]{1,4096})$/.exec(location.hash);
  if (token) {
    history.replaceState(null, '', location.pathname);
    return { access_code: null, security_code: null, moderator_pin: null, name: null, join_token: token[1] };
  }
  if (location.hash !== '#join') return null;
  history.replaceState(null, '', location.pathname);
  const raw = sessionStorage.getItem(KEY);
  sessionStorage.removeItem(KEY);
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

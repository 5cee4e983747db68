// The signed-in account: its token and the calls made with it. The token
// lives in this tab's sessionStorage (docs/web.md "Account pages" says
// why), and a call answered 401 signs the page out (but a wrong password
// asked again, `invalid_credentials`, leaves the token as it is).

import * as api from '../api.js';
import { createStore } from '../state.js';

const KEY = 'conclave.account_token';

/**
 * @typedef {object} Account
 * @property {string} id
 * @property {string} email
 * @property {string} display_name
 * @property {boolean} default_security_code
 */

/**
 * @typedef {object} AccountState
 * @property {string | null} token
 * @property {Account | null} account
 * @property {string} route the part of the location's hash after `#/`
 * @property {string} notice a one-time message, such as a new PIN
 * @property {string} error why the last sign-in or sign-up failed
 * @property {string} farewell what the signed-out page says after the account was deleted
 */

/**
 * A problem body in plain words.
 * @param {api.ApiAnswer} answer
 */
export function problem(answer) {
  const b = answer.body;
  if (!b) return `The server answered ${answer.status}.`;
  return b.detail ? `${b.title}: ${b.detail}` : b.title || `The server answered ${answer.status}.`;
}

export function createAccount() {
  const store = createStore(
    /** @type {AccountState} */ ({
      token: sessionStorage.getItem(KEY),
      account: null,
      route: '',
      notice: '',
      error: '',
      farewell: '',
    }),
  );

  /** @param {string | null} token */
  function keep(token) {
    if (token) sessionStorage.setItem(KEY, token);
    else sessionStorage.removeItem(KEY);
    store.update({ token, account: token ? store.get().account : null });
  }

  /**
   * Calls `fn` with the token; the body when it succeeds, else throws the
   * problem in plain words. A 401 signs out, unless it says the password
   * asked again was wrong (`invalid_credentials`: the token still works).
   * @template T
   * @param {(token: string) => Promise<api.ApiAnswer>} fn
   * @returns {Promise<any>}
   */
  async function ask(fn) {
    const token = store.get().token;
    if (!token) throw new Error('Sign in first.');
    const answer = await fn(token);
    if (answer.status === 401 && !(answer.body && answer.body.code === 'invalid_credentials')) {
      keep(null);
      store.update({ error: 'Your session has ended: sign in again.' });
    }
    if (answer.status >= 400) throw new Error(problem(answer));
    return answer.body;
  }

  async function refresh() {
    try {
      store.update({ account: await ask(api.account) });
    } catch {
      // ask() signed out on 401; anything else shows on the next page load
    }
  }

  const actions = {
    ask,
    /** The token itself, for the calls that cannot go through `ask` (files). */
    token: () => store.get().token,
    refresh,
    /**
     * @param {string} email
     * @param {string} password
     */
    async signIn(email, password) {
      const answer = await api.signIn(email, password);
      if (answer.status !== 201) return store.update({ error: problem(answer) });
      store.update({ error: '', notice: '', farewell: '' });
      keep(answer.body.token);
      await refresh();
    },
    /**
     * @param {string} email
     * @param {string} password
     * @param {string} name
     */
    async signUp(email, password, name) {
      const answer = await api.signUp(email, password, name);
      if (answer.status !== 201) return store.update({ error: problem(answer) });
      keep(answer.body.session.token);
      store.update({
        error: '',
        farewell: '',
        account: answer.body.account,
        notice: `Welcome. Your moderator PIN is ${answer.body.moderator_pin}. Note it now: it is shown this once (you can reset it).`,
      });
      location.hash = '#/line';
    },
    async signOut() {
      const token = store.get().token;
      if (token) await api.signOut(token);
      keep(null);
      store.update({ notice: '', error: '' });
    },
    /**
     * Deletes the account with its password; throws the server's reason in
     * plain words, the page still signed in. Done, the page is signed out
     * as "Sign out" does (the server has already ended the token).
     * @param {string} password
     */
    async deleteAccount(password) {
      await ask((t) => api.deleteAccount(t, password));
      keep(null);
      store.update({ notice: '', error: '', farewell: 'Your account was deleted.' });
    },
    /** @param {string} notice */
    notify: (notice) => store.update({ notice }),
    dismiss: () => store.update({ notice: '' }),
  };
  if (store.get().token) refresh();
  return { store, actions };
}

/** @typedef {ReturnType<typeof createAccount>['actions']} AccountActions */

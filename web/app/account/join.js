// "Join" on the account pages: the owner joins their line or conference
// without typing its codes. The account token makes them its owner (a
// moderator without the PIN, docs/protocol.md `join`). A security code is
// kept only as a hash on the server, so when the conference has one the
// owner types it here: the page cannot know it.
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import { handOver } from '../handover.js';

/** @typedef {import('./auth.js').AccountState} AccountState */

/**
 * @param {{conference: {id: string, title: string, access_code: string, security_code_required: boolean}, state: AccountState}} props
 */
export function JoinControl({ conference, state }) {
  const [asking, setAsking] = useState(false);
  /** @param {string | null} securityCode */
  const go = (securityCode) =>
    handOver({
      access_code: conference.access_code,
      security_code: securityCode,
      moderator_pin: null,
      name: (state.account && state.account.display_name) || 'Host',
      account_token: state.token,
    });
  if (!conference.security_code_required) {
    return html`<button type="button" class="primary" onClick=${() => go(null)}>Join as the host</button>`;
  }
  if (!asking) {
    return html`<button type="button" class="primary" onClick=${() => setAsking(true)}>Join as the host</button>`;
  }
  const field = `join_security_${conference.id}`;
  /** @param {SubmitEvent} e */
  const submit = (e) => {
    e.preventDefault();
    const input = /** @type {HTMLInputElement} */ (document.getElementById(field));
    go(input.value.trim());
  };
  return html`
    <form class="inline" onSubmit=${submit}>
      <label for=${field}>Its security code</label>
      <input id=${field} inputmode="numeric" required autocomplete="off" />
      <button type="submit" class="primary">Join</button>
      <p class="hint">This conference has a security code. The server keeps it only in a form it cannot read back, so type it once more.</p>
    </form>
  `;
}

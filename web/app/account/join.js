// "Join as the host" on the account pages: the owner joins their line or
// conference by its id with the account token, no code, PIN or security
// code (docs/protocol.md `join`, the owner's door); the server seats them
// as its owner, a moderator.
import { html } from '../views/html.js';
import { handOver } from '../handover.js';

/** @typedef {import('./auth.js').AccountState} AccountState */

/** @param {{conference: {id: string}, state: AccountState}} props */
export function JoinControl({ conference, state }) {
  const go = () =>
    handOver({
      access_code: null,
      conference: conference.id,
      security_code: null,
      moderator_pin: null,
      name: (state.account && state.account.display_name) || 'Host',
      account_token: state.token,
    });
  return html`<button type="button" class="primary" onClick=${go}>Join as the host</button>`;
}

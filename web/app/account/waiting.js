// The account's default waiting room, on the security page.
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { fields, useLoad } from './load.js';

/** @typedef {import('./auth.js').AccountState} AccountState */
/** @typedef {import('./auth.js').AccountActions} AccountActions */

/** @param {{state: AccountState, actions: AccountActions}} props */
export function WaitingRoomDefault({ state, actions }) {
  const current = useLoad(() => actions.ask(api.waitingRoomDefault), [state.token]);
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  /** @param {SubmitEvent} e */
  async function submit(e) {
    const setting = fields(e).waiting_room;
    try {
      await actions.ask((t) => api.setWaitingRoomDefault(t, setting));
      current.reload();
      setMessage('The default waiting room is saved.');
      setError('');
    } catch (err) {
      setError(String(err instanceof Error ? err.message : err));
    }
  }
  // Until the saved setting is known the form is disabled: showing "off"
  // meanwhile would be a guess a click on Save could make true.
  const loading = !current.data;
  const value = current.data ? current.data.waiting_room : 'off';
  return html`
    <section class="card" aria-labelledby="waiting_default_heading">
      <h2 id="waiting_default_heading">Waiting room</h2>
      <p id="waiting_rule">
        With a waiting room, people who have the codes wait until a moderator lets them in.
        This default applies to your line and your conferences each time their room opens,
        until a moderator chooses otherwise in the room's settings. Moderators and you never wait.
      </p>
      <form id="waiting_default_form" class="inline" onSubmit=${submit}>
        <label for="waiting_default">Default waiting room</label>
        <select id="waiting_default" name="waiting_room" value=${value} key=${value} disabled=${loading} aria-describedby="waiting_rule">
          <option value="off">Off: the codes let people in</option>
          <option value="everyone">Everyone waits for a moderator</option>
          <option value="unknown_guests">Guests not seen before wait</option>
        </select>
        <button type="submit" class="primary" disabled=${loading}>Save the waiting room</button>
      </form>
      <p role="status">${message}</p>
      <p role="alert">${error || current.error}</p>
    </section>
  `;
}

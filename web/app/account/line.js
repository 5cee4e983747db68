// The line (access code, dial-in, resets) and the security settings (with,
// at their foot, deleting the account: delete.js).
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { fields, useLoad } from './load.js';
import { JoinControl } from './join.js';
import { WaitingRoomDefault } from './waiting.js';
import { DeleteAccount } from './delete.js';
import { ExportData } from './export.js';
import { RetentionSettings } from './retention.js';

/** @typedef {import('./auth.js').AccountState} AccountState */
/** @typedef {import('./auth.js').AccountActions} AccountActions */

/** @param {{state: AccountState, actions: AccountActions}} props */
export function LinePage({ state, actions }) {
  const line = useLoad(() => actions.ask(api.line), [state.token]);
  const [confirm, setConfirm] = useState(/** @type {'' | 'code' | 'pin'} */ (''));
  const [error, setError] = useState('');

  async function reset() {
    const which = confirm;
    setConfirm('');
    try {
      if (which === 'code') {
        const { access_code } = await actions.ask(api.resetAccessCode);
        actions.notify(
          `Your line's new access code is ${access_code}. The old access code stopped working: it is refused for every future conference on your line. People already in a meeting stay.`,
        );
        line.reload();
      } else {
        const { moderator_pin } = await actions.ask(api.resetModeratorPin);
        actions.notify(
          `Your new moderator PIN is ${moderator_pin}. Note it now: it is shown this once. The old PIN stopped working for all future conferences, your line and scheduled ones.`,
        );
      }
      setError('');
    } catch (e) {
      setError(String(e instanceof Error ? e.message : e));
    }
  }

  const l = line.data;
  return html`
    <h1>Your line</h1>
    <p role="alert">${line.error || error}</p>
    ${l &&
    html`
      <section class="card" aria-labelledby="line_heading">
        <h2 id="line_heading">Access code</h2>
        <p class="code" id="line_access_code">${l.access_code}</p>
        <p>
          ${`Security code: ${l.security_code_required ? 'required (your default security code, see Security)' : 'none'}`}
        </p>
        <${JoinControl} conference=${l} state=${state} />
      </section>
      <section class="card" aria-labelledby="dial_heading">
        <h2 id="dial_heading">Dial-in instructions</h2>
        <ol>
          <li>Call your conference phone number.</li>
          <li>Enter the access code <strong>${l.access_code}</strong>, then <kbd>#</kbd>.</li>
          ${l.security_code_required && html`<li>When asked, enter the security code, then <kbd>#</kbd>.</li>`}
          <li>To chair, enter your moderator PIN, then <kbd>#</kbd>; to join as a participant press <kbd>#</kbd> alone.</li>
          <li>Once in, a moderator presses <kbd>*5</kbd> to lock or unlock the room.</li>
        </ol>
        <p>On the web: open <a href="/">the meeting page</a> and type the access code.</p>
      </section>
    `}
    <section class="card" aria-labelledby="reset_heading">
      <h2 id="reset_heading">Reset your codes</h2>
      ${confirm
        ? html`<div class="confirm" role="group" aria-labelledby="confirm_text">
            <p id="confirm_text">
              ${confirm === 'code'
                ? 'Reset the access code? The old one stops working at once, for all future conferences on your line.'
                : 'Reset the moderator PIN? The old one stops working at once, for all future conferences: your line and every scheduled one.'}
            </p>
            <button type="button" class="danger" onClick=${reset}>${confirm === 'code' ? 'Reset the access code' : 'Reset the PIN'}</button>
            <button type="button" onClick=${() => setConfirm('')}>Cancel</button>
          </div>`
        : html`<div class="row">
            <button type="button" onClick=${() => setConfirm('code')}>Reset the access code…</button>
            <button type="button" onClick=${() => setConfirm('pin')}>Reset the moderator PIN…</button>
          </div>`}
      <p class="hint">The new value shows once; the old one is refused from then on. People already in a meeting stay.</p>
    </section>
  `;
}

/** @param {{state: AccountState, actions: AccountActions}} props */
export function SecurityPage({ state, actions }) {
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  /** @param {string | null} code */
  async function save(code) {
    try {
      await actions.ask((t) => api.setDefaultSecurityCode(t, code));
      await actions.refresh();
      setMessage(code === null ? 'The default security code is removed.' : 'The default security code is saved.');
      setError('');
    } catch (e) {
      setError(String(e instanceof Error ? e.message : e));
    }
  }
  /** @param {SubmitEvent} e */
  const submit = (e) => {
    const f = fields(e);
    /** @type {HTMLFormElement} */ (e.currentTarget).reset();
    save(f.security_code.trim());
  };
  const set = state.account && state.account.default_security_code;
  return html`
    <h1>Security settings</h1>
    <section class="card" aria-labelledby="default_heading">
      <h2 id="default_heading">Default security code</h2>
      <p id="security_rule">
        The default security code applies to your line and to conferences you schedule from now on.
        Conferences already scheduled keep the security code they have.
      </p>
      <p id="security_state"><strong>${set ? 'A default security code is set.' : 'No default security code is set.'}</strong></p>
      <form id="security_form" class="inline" onSubmit=${submit}>
        <label for="default_security_code">${set ? 'New default security code' : 'Default security code'}</label>
        <input id="default_security_code" name="security_code" inputmode="numeric" pattern="[0-9]{4,16}" required
          autocomplete="off" aria-describedby="security_rule code_hint" />
        <button type="submit" class="primary">Save</button>
        <p id="code_hint" class="hint">4 to 16 digits. It is stored so that nobody can read it back, this page included.</p>
      </form>
      ${set && html`<button type="button" class="danger" onClick=${() => save(null)}>Remove the default security code</button>`}
      <p role="status">${message}</p>
      <p role="alert">${error}</p>
    </section>
    <${WaitingRoomDefault} state=${state} actions=${actions} />
    <${RetentionSettings} state=${state} actions=${actions} />
    <${ExportData} actions=${actions} />
    <${DeleteAccount} actions=${actions} />
  `;
}

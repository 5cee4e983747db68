// Scheduling: the form (security on its first and only page), the list,
// and one conference with its one-time access code and security choice.
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { fields, useLoad, when } from './load.js';
import { JoinControl } from './join.js';

/** @typedef {import('./auth.js').AccountState} AccountState */
/** @typedef {import('./auth.js').AccountActions} AccountActions */

/** @type {Record<string, string>} */
const SECURITY = {
  none: 'No security code',
  default: 'Your default security code (as it was when chosen)',
  own: 'Its own security code',
};

/**
 * The security choice as the API takes it, from a form's fields.
 * @param {Record<string, string>} f
 * @returns {import('../api.js').SecurityChoice}
 */
function choice(f) {
  if (f.security === 'own') return { mode: 'own', security_code: (f.security_code || '').trim() };
  return { mode: f.security === 'none' ? 'none' : 'default' };
}

/** @param {{prefix: string, initial: string}} props */
function SecurityFields({ prefix, initial }) {
  const [mode, setMode] = useState(initial);
  return html`
    <fieldset>
      <legend>Security code</legend>
      ${Object.entries(SECURITY).map(
        ([value, label]) => html`<label class="choice">
          <input type="radio" name="security" value=${value} checked=${mode === value} onChange=${() => setMode(value)} />
          ${label}
        </label>`,
      )}
      ${mode === 'own' &&
      html`<label>Security code for this conference
        <input name="security_code" id=${`${prefix}_security_code`} inputmode="numeric" pattern="[0-9]{4,16}" required autocomplete="off" />
      </label>`}
      <p class="hint">Participants type it after the access code (callers key it in). 4 to 16 digits.</p>
    </fieldset>
  `;
}

/** A `datetime-local` value `hours` from now, on the hour. */
function later(/** @type {number} */ hours) {
  const d = new Date(Date.now() + hours * 3_600_000);
  d.setMinutes(0, 0, 0);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:00`;
}

/** @param {{state: AccountState, actions: AccountActions}} props */
export function ConferencesPage({ state, actions }) {
  const list = useLoad(() => actions.ask(api.conferences), [state.token]);
  const [error, setError] = useState('');
  /** @param {SubmitEvent} e */
  async function submit(e) {
    const f = fields(e);
    try {
      const c = await actions.ask((t) =>
        api.schedule(t, {
          title: f.title.trim(),
          starts_at: new Date(f.starts_at).toISOString(),
          ends_at: new Date(f.ends_at).toISOString(),
          security: choice(f),
        }),
      );
      actions.notify(`"${c.title}" is scheduled. Its one-time access code is ${c.access_code}.`);
      location.hash = `#/conferences/${c.id}`;
    } catch (err) {
      setError(String(err instanceof Error ? err.message : err));
    }
  }
  const scheduled = (list.data || []).filter((/** @type {any} */ c) => c.kind === 'scheduled');
  return html`
    <h1>Scheduling</h1>
    <form id="schedule" class="card" onSubmit=${submit} aria-labelledby="schedule_heading">
      <h2 id="schedule_heading">Schedule a conference</h2>
      <label>Title <input name="title" required maxlength="200" /></label>
      <div class="row">
        <label>Starts <input name="starts_at" type="datetime-local" required value=${later(1)} /></label>
        <label>Ends <input name="ends_at" type="datetime-local" required value=${later(2)} /></label>
      </div>
      <${SecurityFields} prefix="schedule" initial="default" />
      <button type="submit" class="primary">Schedule</button>
      <p role="alert">${error}</p>
    </form>
    <section aria-labelledby="scheduled_heading">
      <h2 id="scheduled_heading">Scheduled conferences</h2>
      <p role="alert">${list.error}</p>
      ${list.data && scheduled.length === 0 && html`<p>None yet.</p>`}
      ${scheduled.length > 0 &&
      html`<div class="scroll" tabindex="0" role="region" aria-label="Scheduled conferences"><table id="conferences">
        <thead><tr><th scope="col">Title</th><th scope="col">Starts</th><th scope="col">Ends</th><th scope="col">Access code</th><th scope="col">Security code</th></tr></thead>
        <tbody>
          ${scheduled.map(
            (/** @type {any} */ c) => html`<tr>
              <th scope="row"><a href=${`#/conferences/${c.id}`}>${c.title}</a></th>
              <td>${when(c.starts_at)}</td><td>${when(c.ends_at)}</td>
              <td class="code">${c.access_code}</td><td>${c.security_code_required ? 'required' : 'none'}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>`}
    </section>
  `;
}

/** @param {{id: string, state: AccountState, actions: AccountActions}} props */
export function ConferencePage({ id, state, actions }) {
  const conf = useLoad(() => actions.ask((t) => api.conference(t, id)), [id, state.token]);
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  /** @param {SubmitEvent} e */
  async function change(e) {
    const f = fields(e);
    try {
      await actions.ask((t) => api.setConferenceSecurity(t, id, choice(f)));
      setMessage('The security choice is saved: the next join checks it.');
      setError('');
      conf.reload();
    } catch (err) {
      setError(String(err instanceof Error ? err.message : err));
    }
  }
  const c = conf.data;
  if (!c) return html`<h1>Conference</h1><p role="alert">${conf.error}</p>`;
  return html`
    <h1>${c.title}</h1>
    <section class="card" aria-labelledby="conf_heading">
      <h2 id="conf_heading">Joining</h2>
      <dl>
        <dt>When</dt><dd>${c.starts_at ? `${when(c.starts_at)} to ${when(c.ends_at)}` : 'always (your line)'}</dd>
        <dt>Access code</dt><dd class="code" id="conference_access_code">${c.access_code}</dd>
        <dt>Security code</dt><dd id="conference_security">${SECURITY[c.security] || c.security}${c.security_code_required ? '' : ' (none needed)'}</dd>
      </dl>
      ${c.kind === 'scheduled' && html`<p class="hint">The access code is for this conference only; it stops working after it ends.</p>`}
      <${JoinControl} conference=${c} state=${state} />
      <p><a href=${`#/reports/${c.id}`}>Reports, recordings and data</a></p>
    </section>
    ${c.kind === 'scheduled' &&
    html`<form id="change_security" class="card" onSubmit=${change} aria-labelledby="change_heading">
      <h2 id="change_heading">Change the security code</h2>
      <${SecurityFields} key=${c.security} prefix="change" initial=${c.security} />
      <button type="submit">Save</button>
      <p role="status">${message}</p>
      <p role="alert">${error}</p>
    </form>`}
  `;
}

// "Data retention", on the security page: how many days the organisation
// keeps its members' meeting summaries and, separately, their chat before
// the retention job deletes them (docs/privacy.md "Retention"). Empty
// keeps them until deleted by hand. Its admins set it; a member reads it.
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { fields, useLoad } from './load.js';

/** @typedef {import('./auth.js').AccountState} AccountState */
/** @typedef {import('./auth.js').AccountActions} AccountActions */

/**
 * A field's days, or null when left empty.
 * @param {string | undefined} text
 */
function days(text) {
  const t = (text ?? '').trim();
  return t === '' ? null : Number(t);
}

/** @param {number | null | undefined} d */
const shown = (d) => (d === null || d === undefined ? '' : String(d));

/** @param {{state: AccountState, actions: AccountActions}} props */
export function RetentionSettings({ state, actions }) {
  const current = useLoad(() => actions.ask(api.retention), [state.token]);
  const org = useLoad(() => actions.ask(api.organisation), [state.token]);
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  /** @param {SubmitEvent} e */
  async function submit(e) {
    const f = fields(e);
    try {
      const saved = await actions.ask((t) => api.setRetention(t, days(f.summary_days), days(f.chat_days)));
      current.reload();
      const parts = [
        saved.summary_days === null ? 'Summaries are kept until you delete them' : `Summaries are kept ${saved.summary_days} days`,
        saved.chat_days === null ? 'chat is kept with them' : `chat ${saved.chat_days} days`,
      ];
      setMessage(`Retention is saved. ${parts.join('; ')}.`);
      setError('');
    } catch (err) {
      setMessage('');
      setError(`Retention was not saved: ${err instanceof Error ? err.message : err}`);
    }
  }
  const loading = !current.data || !org.data;
  const data = current.data ?? { summary_days: null, chat_days: null };
  if (org.data && org.data.role !== 'admin') {
    const name = org.data.name || 'your organisation';
    return html`
      <section class="card" aria-labelledby="retention_heading">
        <h2 id="retention_heading">Data retention</h2>
        <p id="retention_rule">
          The admins of ${name} decide how long its members' meeting summaries and chat are kept; what is older is
          deleted for good, within the hour.
        </p>
        <dl id="retention_set">
          <dt>Meeting summaries</dt>
          <dd>${data.summary_days === null ? 'kept until deleted' : `kept ${data.summary_days} days`}</dd>
          <dt>Chat</dt>
          <dd>${data.chat_days === null ? 'kept with its summary' : `kept ${data.chat_days} days`}</dd>
        </dl>
        <p role="alert">${current.error || org.error}</p>
      </section>
    `;
  }
  const shared = org.data && !org.data.own;
  return html`
    <section class="card" aria-labelledby="retention_heading">
      <h2 id="retention_heading">Data retention</h2>
      <p id="retention_rule">
        Meeting summaries (attendance, chat, moderator actions, shared documents and recordings) older than the days
        you set are deleted for good, within the hour, and so is chat older than its own setting. Leave a field empty
        to keep everything until you delete it. What is deleted this way is noted, as counts, in your audit log.
        ${shared ? ' As an admin of your organisation, you set this for every member\'s meetings.' : ''}
      </p>
      <form id="retention_form" class="inline" onSubmit=${submit}>
        <label for="retention_summary_days">Keep meeting summaries for (days)</label>
        <input id="retention_summary_days" name="summary_days" type="number" min="1" max="3650" step="1"
          value=${shown(data.summary_days)} disabled=${loading} aria-describedby="retention_rule retention_hint" />
        <label for="retention_chat_days">Keep chat for (days)</label>
        <input id="retention_chat_days" name="chat_days" type="number" min="1" max="3650" step="1"
          value=${shown(data.chat_days)} disabled=${loading} aria-describedby="retention_rule retention_hint" />
        <button type="submit" class="primary" disabled=${loading}>Save retention</button>
        <p id="retention_hint" class="hint">1 to 3650 days, or empty to keep.</p>
      </form>
      <p id="retention_state" role="status">${message}</p>
      <p role="alert">${error || current.error || org.error}</p>
    </section>
  `;
}

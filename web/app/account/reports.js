// Reports per conference: the sessions with their attendance (and the
// server's CSV, and erasing a person: erase.js), the moderator audit log,
// the chat, the recordings, and deleting the summary. Everything the
// server stores about a meeting, for its owner.
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { duration, fields, saveBlob, useLoad, when } from './load.js';
import { Recordings } from './recordings.js';
import { EraseButton, EraseConfirm, useErasure } from './erase.js';

/** @typedef {import('./auth.js').AccountActions} AccountActions */

/** @param {{actions: AccountActions}} props */
export function ReportsPage({ actions }) {
  const list = useLoad(() => actions.ask(api.conferences), []);
  return html`
    <h1>Reports</h1>
    <p>Attendance, the moderators' actions, the chat and the recordings of each conference.</p>
    <p role="alert">${list.error}</p>
    <ul class="links">
      ${(list.data || []).map(
        (/** @type {any} */ c) => html`<li><a href=${`#/reports/${c.id}`}>${c.kind === 'line' ? `${c.title} (your line)` : c.title}</a>
          ${c.starts_at && html` <span class="hint">${when(c.starts_at)}</span>`}</li>`,
      )}
    </ul>
    <${Meetings} actions=${actions} />
  `;
}

/**
 * Every meeting of the account, newest first, between two days, twenty a
 * page: the server's cursor is kept for each page shown, so "Newer" goes
 * back exactly. An organisation's admin may ask for every member's
 * meetings instead, each with its owner's name.
 * @param {{actions: AccountActions}} props
 */
function Meetings({ actions }) {
  const [range, setRange] = useState({ from: '', to: '', scope: 'account' });
  const [cursors, setCursors] = useState(/** @type {string[]} */ ([]));
  const after = cursors.length ? cursors[cursors.length - 1] : '';
  const org = useLoad(() => actions.ask(api.organisation), []);
  const admin = org.data && org.data.role === 'admin';
  const members = useLoad(() => (admin ? actions.ask(api.organisationMembers) : Promise.resolve([])), [admin]);
  const page = useLoad(() => actions.ask((t) => api.meetings(t, { ...range, after })), [range.from, range.to, range.scope, after]);
  /** @param {SubmitEvent} event */
  function show(event) {
    const f = fields(event);
    setCursors([]);
    setRange({ from: f.from || '', to: f.to || '', scope: f.scope || 'account' });
  }
  const everyone = range.scope === 'organisation';
  const owners = new Map((members.data || []).map((/** @type {any} */ m) => [m.account, m.display_name]));
  const rows = (page.data && page.data.sessions) || [];
  return html`
    <section aria-labelledby="meetings_heading">
      <h2 id="meetings_heading">All meetings</h2>
      <form id="meetings_range" onSubmit=${show}>
        <label for="meetings_from">From</label> <input id="meetings_from" name="from" type="date" />
        <label for="meetings_to">To</label> <input id="meetings_to" name="to" type="date" />
        ${admin &&
        html`<label for="meetings_scope">Whose</label>
          <select id="meetings_scope" name="scope">
            <option value="account">My meetings</option>
            <option value="organisation">Every member's meetings</option>
          </select>`}
        <button type="submit">Show</button>
      </form>
      <p role="alert">${page.error}</p>
      ${page.data && rows.length === 0 && html`<p id="no_meetings">No meetings in this range.</p>`}
      ${rows.length > 0 &&
      html`<div class="scroll" tabindex="0" role="region" aria-label="All meetings"><table id="meetings">
        <thead><tr><th scope="col">Started</th>${everyone && html`<th scope="col">Owner</th>`}<th scope="col">Conference</th><th scope="col">Length</th>
          <th scope="col">Participants</th><th scope="col">Web</th><th scope="col">Phone</th><th scope="col">Minutes</th></tr></thead>
        <tbody>
          ${rows.map(
            (/** @type {any} */ m) => html`<tr key=${m.session}>
              <td>${when(m.started_at)}</td>
              ${everyone && html`<td>${owners.get(m.owner) || ''}</td>`}
              <td><a href=${`#/reports/${m.conference}`}>${m.title}</a></td>
              <td>${m.ended_at ? duration(m.started_at, m.ended_at) : 'in progress'}</td>
              <td>${m.totals.participants}</td><td>${m.totals.web}</td><td>${m.totals.phone}</td><td>${m.totals.total_minutes}</td>
            </tr>`,
          )}
        </tbody>
      </table></div>`}
      <p>
        <button type="button" id="meetings_newer" disabled=${cursors.length === 0} onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>
        <button type="button" id="meetings_older" disabled=${!(page.data && page.data.next)} onClick=${() => setCursors([...cursors, page.data.next])}>Older</button>
      </p>
    </section>
  `;
}

/** @param {{id: string, actions: AccountActions}} props */
export function ReportPage({ id, actions }) {
  // The title from the account's own conferences: a member's conference,
  // for an organisation's admin, is not among them (its reports are the
  // admin's to read, its settings are not).
  const conf = useLoad(() => actions.ask(api.conferences), [id]);
  const sessions = useLoad(() => actions.ask((t) => api.history(t, id, 'sessions')), [id]);
  const audit = useLoad(() => actions.ask((t) => api.history(t, id, 'audit')), [id]);
  const chat = useLoad(() => actions.ask((t) => api.history(t, id, 'chat')), [id]);
  const recordings = useLoad(() => actions.ask((t) => api.history(t, id, 'recordings')), [id]);
  const reload = () => [sessions, audit, chat, recordings].forEach((l) => l.reload());
  // After an erasure: the rows, the names in the audit log, the chat.
  const erased = () => [sessions, audit, chat].forEach((l) => l.reload());

  /** Participant ids to names, for the audit log. */
  const names = new Map();
  for (const s of sessions.data || []) for (const a of s.attendance) names.set(a.participant, a.name);
  const name = (/** @type {string | null} */ p) => (p && names.get(p)) || p || '';
  const mine = conf.data && conf.data.find((/** @type {any} */ c) => c.id === id);
  const title = mine ? mine.title : conf.data ? "A member's conference" : 'Conference';

  return html`
    <h1>Reports: ${title}</h1>
    <p role="alert">${conf.error || sessions.error}</p>
    <section aria-labelledby="sessions_heading">
      <h2 id="sessions_heading">Sessions and attendance</h2>
      ${sessions.data && sessions.data.length === 0 && html`<p id="no_sessions">No sessions.</p>`}
      ${(sessions.data || []).map(
        (/** @type {any} */ s, /** @type {number} */ i) => html`<${Session} id=${id} session=${s} n=${i + 1} actions=${actions} erased=${erased} />`,
      )}
    </section>
    <section aria-labelledby="audit_heading">
      <h2 id="audit_heading">Moderator actions</h2>
      <p role="alert">${audit.error}</p>
      ${audit.data && audit.data.length === 0 && html`<p>None.</p>`}
      ${audit.data &&
      audit.data.length > 0 &&
      html`<div class="scroll" tabindex="0" role="region" aria-label="Moderator actions"><table id="audit">
        <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">To whom</th><th scope="col">Detail</th></tr></thead>
        <tbody>
          ${audit.data.map(
            (/** @type {any} */ e) => html`<tr><td>${when(e.at)}</td><td>${name(e.actor)}</td><td>${e.action}</td><td>${name(e.target)}</td><td>${e.detail || ''}</td></tr>`,
          )}
        </tbody>
      </table></div>`}
    </section>
    <section aria-labelledby="chat_heading">
      <h2 id="chat_heading">Chat</h2>
      <p role="alert">${chat.error}</p>
      ${chat.data && chat.data.length === 0 && html`<p>No messages.</p>`}
      <ul id="chat_log" class="chat">
        ${(chat.data || []).map(
          (/** @type {any} */ m) => html`<li>
            <span class="hint">${when(m.posted_at)}</span> <strong>${m.sender_name}</strong>:
            ${m.text === null ? html` <em>(deleted)</em>` : ` ${m.text}`}
          </li>`,
        )}
      </ul>
    </section>
    <${Recordings} id=${id} list=${recordings} actions=${actions} />
    <${DeleteSummary} id=${id} sessions=${sessions.data} recordings=${recordings.data} actions=${actions} done=${reload} />
  `;
}

/** @param {{id: string, session: any, n: number, actions: AccountActions, erased: () => void}} props */
function Session({ id, session, n, actions, erased }) {
  const heading = `session_${session.id}`;
  const [error, setError] = useState('');
  const erasure = useErasure(id, actions, erased);
  // The server's CSV (formula-leading cells neutralised there): the token
  // goes in a header, so the page fetches it and saves the blob.
  async function save() {
    const token = actions.token();
    const csv = token ? await api.attendanceCsv(token, id, session.id) : null;
    if (!csv || !csv.blob) return setError(`The attendance could not be downloaded${csv ? ` (the server answered ${csv.status})` : ''}.`);
    setError('');
    saveBlob(csv.filename, csv.blob);
  }
  return html`
    <section class="card session" aria-labelledby=${heading}>
      <h3 id=${heading}>Session ${n}: ${when(session.started_at)} to ${session.ended_at ? when(session.ended_at) : 'now (in progress)'}</h3>
      <div class="scroll" tabindex="0" role="region" aria-label=${`Attendance of session ${n}`}><table class="attendance">
        <caption class="visually-hidden">Attendance of session ${n}</caption>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">Web or phone</th><th scope="col">Number</th><th scope="col">Role</th>
          <th scope="col">Joined</th><th scope="col">Left</th><th scope="col">Duration</th><th scope="col">Reason</th>
          <th scope="col"><span class="visually-hidden">Erase</span></th>
        </tr></thead>
        <tbody>
          ${session.attendance.map((/** @type {any} */ a, /** @type {number} */ i) => {
            const row = String(i);
            const asking = erasure.asking === row;
            const confirm = `erase_${session.id}_${i}`;
            return [
              html`<tr key=${row}>
                <th scope="row">${a.name}</th><td>${a.endpoint}</td><td>${a.phone_number || ''}</td><td>${a.role}</td>
                <td>${when(a.joined_at)}</td><td>${a.left_at ? when(a.left_at) : 'still in'}</td>
                <td>${duration(a.joined_at, a.left_at)}</td><td>${a.left_reason || ''}</td>
                <td><${EraseButton} seat=${a} row=${row} asking=${asking} ask=${erasure.ask} controls=${confirm} /></td>
              </tr>`,
              asking &&
                html`<tr key=${`${row}_confirm`}><td colspan="9">
                  <${EraseConfirm} id=${confirm} seat=${a} confirm=${erasure.confirm} cancel=${erasure.cancel} />
                </td></tr>`,
            ];
          })}
        </tbody>
      </table></div>
      <p role="status" tabindex="-1" ref=${erasure.status}>${erasure.message}</p>
      <p role="alert">${erasure.error}</p>
      <button type="button" onClick=${save}>Download the attendance of session ${n} (CSV)</button>
      <p role="alert">${error}</p>
    </section>
  `;
}

/** @param {{id: string, sessions: any[] | undefined, recordings: any[] | undefined, actions: AccountActions, done: () => void}} props */
function DeleteSummary({ id, sessions, recordings, actions, done }) {
  const [asking, setAsking] = useState(false);
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  async function remove() {
    setAsking(false);
    try {
      const d = await actions.ask((t) => api.deleteHistory(t, id));
      setMessage(`Deleted: ${d.sessions} session(s), ${d.documents} document(s), ${d.recordings} recording(s).`);
      setError('');
      done();
    } catch (e) {
      setError(String(e instanceof Error ? e.message : e));
    }
  }
  const nSessions = sessions ? sessions.length : 0;
  const nRecordings = recordings ? recordings.length : 0;
  return html`
    <section class="card" aria-labelledby="delete_heading">
      <h2 id="delete_heading">Delete data</h2>
      ${asking
        ? html`<div class="confirm" role="group" aria-labelledby="delete_text">
            <p id="delete_text">
              This deletes the conference's summary: ${nSessions} past session(s) with their attendance, the moderator
              actions, the chat, the shared documents and ${nRecordings} recording(s), files included. It cannot be undone.
              The conference stays, with its access code, security code, moderator PIN, lock, permissions and blocks.
            </p>
            <button type="button" class="danger" onClick=${remove}>Delete the summary</button>
            <button type="button" onClick=${() => setAsking(false)}>Keep it</button>
          </div>`
        : html`<button type="button" class="danger" onClick=${() => setAsking(true)}>Delete this conference's summary…</button>`}
      <p role="status">${message}</p>
      <p role="alert">${error}</p>
    </section>
  `;
}

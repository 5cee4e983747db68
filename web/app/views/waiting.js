// The waiting room: the page of someone waiting to be let in, and the
// moderators' list of who waits, with admit and deny.
import { html } from './html.js';
import { WAIT_REASONS } from '../words.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../session.js').Actions} Actions */

/** @param {{state: State, actions: Actions}} props */
export function WaitingPage({ state, actions }) {
  return html`
    <section id="waiting_page" hidden=${state.phase !== 'waiting'} aria-labelledby="waiting_title">
      <h1 id="waiting_title">${state.title}</h1>
      <p role="status">Waiting for a moderator to let you in. Keep this page open: you join as soon as they do.</p>
      <button type="button" onClick=${actions.leave}>Leave</button>
    </section>
  `;
}

/** @param {{state: State, actions: Actions}} props */
export function WaitingList({ state, actions }) {
  if (state.role !== 'moderator' || state.waiting.length === 0) return null;
  return html`
    <section id="waiting" aria-labelledby="waiting_heading">
      <h2 id="waiting_heading">Waiting to join (${state.waiting.length})</h2>
      <ul>
        ${state.waiting.map(
          (w) => html`<li key=${w.id} data-id=${w.id}>
            <span class="who">${w.name}</span>
            <span class="notes"><span class="badge">${w.phone ? `phone ${w.number || ''}`.trim() : 'web'}</span></span>
            <span class="hint">${WAIT_REASONS[w.reason] || ''}</span>
            <button type="button" aria-label=${`Admit ${w.name}`} onClick=${() => actions.admit(w.id)}>Admit</button>
            <button type="button" aria-label=${`Deny ${w.name}`} onClick=${() => actions.deny(w.id)}>Deny</button>
          </li>`,
        )}
      </ul>
      ${state.waiting.length > 1 ? html`<button id="admit_all" type="button" onClick=${actions.admitAll}>Admit all</button>` : null}
    </section>
  `;
}

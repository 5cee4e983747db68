// The whole page: the join form, the waiting room, the room, or why this
// page is out.
import { html } from './html.js';
import { JoinForm } from './join.js';
import { Room } from './room.js';
import { WaitingPage } from './waiting.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../session.js').Actions} Actions */

/** @param {{state: State, actions: Actions}} props */
export function App({ state, actions }) {
  // Both stay in the page, hidden when not in use: the form keeps what was
  // typed, and tests find them by id.
  return html`
    <main>
      <${JoinForm} state=${state} actions=${actions} />
      <${WaitingPage} state=${state} actions=${actions} />
      <${Room} state=${state} actions=${actions} />
      <p id="closed" role="alert" hidden=${state.phase !== 'closed'}>${state.closedReason}</p>
    </main>
  `;
}

// Chat: the messages, the form to send one (or why one may not), and the
// documents shared in the room.
import { html } from './html.js';
import { Documents } from './documents.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../session.js').Actions} Actions */

/** @param {{state: State, actions: Actions}} props */
export function Chat({ state, actions }) {
  const allowed = state.permissions.chat === 'everyone' || state.role === 'moderator';

  /** @param {SubmitEvent} event */
  async function submit(event) {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    const input = /** @type {HTMLInputElement} */ (form.elements.namedItem('chat_text'));
    if (!input.value.trim()) return;
    if (await actions.chat(input.value)) input.value = '';
  }

  return html`
    <h2>Chat</h2>
    <ol id="chat" aria-live="polite">
      ${state.chat.map(
        (m) => html`<li key=${m.id} data-id=${m.id}>${m.deleted ? '(deleted)' : html`<b>${m.from_name}</b>: ${m.text}`}</li>`,
      )}
    </ol>
    <form id="chat_form" onSubmit=${submit}>
      <label class="visually-hidden" for="chat_text">Message</label>
      <input id="chat_text" name="chat_text" maxlength="4000" placeholder="Message" disabled=${!allowed}
        aria-describedby=${allowed ? undefined : 'chat_why'} />
      <button type="submit" disabled=${!allowed}>Send</button>
    </form>
    <p id="chat_why" class="hint" hidden=${allowed}>Only moderators may post: a moderator chose so in the settings.</p>
    <${Documents} state=${state} actions=${actions} />
  `;
}

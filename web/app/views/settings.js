// The settings cog (moderators): lock, who may chat and share, the
// waiting room, recording, and the blocks with unblock.
import { html } from './html.js';
import { useState } from '../../vendor/hooks.module.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../session.js').Actions} Actions */
/** @typedef {import('../types.js').Audience} Audience */

/** @param {{state: State, actions: Actions}} props */
export function Settings({ state, actions }) {
  const [open, setOpen] = useState(false);
  /** @param {'chat' | 'share'} permission */
  const onAudience = (permission) => (/** @type {Event} */ event) => {
    const select = /** @type {HTMLSelectElement} */ (event.currentTarget);
    actions.setPermission(permission, /** @type {Audience} */ (select.value));
  };
  const toggle = () => {
    if (!open) actions.refreshBlocks();
    setOpen(!open);
  };
  return html`
    <button id="settings_button" type="button" aria-expanded=${open} aria-controls="settings" onClick=${toggle}>
      <span aria-hidden="true">⚙</span> Settings
    </button>
    <section id="settings" hidden=${!open} aria-label="Room settings">
      <button id="lock_toggle" type="button" aria-pressed=${state.locked}
        onClick=${state.locked ? actions.unlock : actions.lock}>
        ${state.locked ? 'Unlock the room' : 'Lock the room'}
      </button>
      <label>Who may chat
        <select id="chat_permission" value=${state.permissions.chat} onChange=${onAudience('chat')}>
          <option value="everyone">Everyone</option>
          <option value="moderators">Moderators only</option>
        </select>
      </label>
      <label>Who may share documents and screens
        <select id="share_permission" value=${state.permissions.share} onChange=${onAudience('share')}>
          <option value="everyone">Everyone</option>
          <option value="moderators">Moderators only</option>
        </select>
      </label>
      <label>Waiting room
        <select id="waiting_room_setting" value=${state.waitingRoom} aria-describedby="waiting_room_hint"
          onChange=${(/** @type {Event} */ e) => actions.setWaitingRoom(/** @type {any} */ (/** @type {HTMLSelectElement} */ (e.currentTarget).value))}>
          <option value="off">Off: the codes let people in</option>
          <option value="everyone">Everyone waits for a moderator</option>
          <option value="unknown_guests">Guests not seen before wait</option>
        </select>
      </label>
      <span id="waiting_room_hint" class="hint">Moderators and the owner never wait. After a block, new guests wait anyway.</span>
      <button id="recording_toggle" type="button" aria-pressed=${state.recording}
        onClick=${state.recording ? actions.stopRecording : actions.startRecording}>
        ${state.recording ? 'Stop recording' : 'Start recording'}
      </button>
      <h3>Blocked</h3>
      ${state.blocks.length === 0
        ? html`<p id="no_blocks" class="hint">Nobody is blocked.</p>`
        : html`<ul id="blocks">
            ${state.blocks.map(
              (b) => html`<li key=${b.id}>${b.name}
                <button type="button" aria-label=${`Unblock ${b.name}`} onClick=${() => actions.unblock(b.id)}>Unblock</button></li>`,
            )}
          </ul>`}
    </section>
  `;
}

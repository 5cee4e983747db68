// The join form. Its fields are read when it is sent (not kept in state),
// so whatever filled them, a person or a test, is what joins.
import { html } from './html.js';
import { useEffect, useRef } from '../../vendor/hooks.module.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../session.js').Actions} Actions */

/** @param {{state: State, actions: Actions}} props */
export function JoinForm({ state, actions }) {
  const security = useRef(/** @type {HTMLInputElement | null} */ (null));
  const video = useRef(/** @type {HTMLVideoElement | null} */ (null));
  useEffect(() => {
    if (video.current && video.current.srcObject !== state.preview) video.current.srcObject = state.preview;
  }, [state.preview]);
  useEffect(() => {
    if (state.needsSecurity && security.current) security.current.focus();
  }, [state.needsSecurity]);

  /** @param {SubmitEvent} event */
  function submit(event) {
    event.preventDefault();
    const form = /** @type {HTMLFormElement} */ (event.currentTarget);
    /** @param {string} name */
    const value = (name) => {
      const input = /** @type {HTMLInputElement | null} */ (form.elements.namedItem(name));
      return (input && input.value.trim()) || null;
    };
    /** @param {string} name */
    const checked = (name) => Boolean(/** @type {HTMLInputElement | null} */ (form.elements.namedItem(name))?.checked);
    actions.join(
      {
        access_code: value('access_code'),
        security_code: value('security_code'),
        moderator_pin: value('moderator_pin'),
        name: value('name'),
      },
      { micOff: checked('mic_off'), cameraOff: checked('camera_off') },
    );
  }

  /** @param {'camera' | 'microphone'} kind @param {Event} event */
  const pick = (kind, event) => actions.preview({ [kind]: /** @type {HTMLSelectElement} */ (event.currentTarget).value });
  const { cameras, microphones } = state.devices;

  return html`
    <form id="join" autocomplete="off" hidden=${state.phase !== 'join'} onSubmit=${submit} aria-labelledby="join_heading">
      <h1 id="join_heading">Join a conference</h1>
      <label>Access code <input id="access_code" name="access_code" inputmode="numeric" required /></label>
      <label class=${state.needsSecurity ? 'asked' : ''}>
        Security code
        <input id="security_code" name="security_code" inputmode="numeric" ref=${security}
          placeholder="if the conference has one" aria-describedby=${state.needsSecurity ? 'join_error' : undefined} />
      </label>
      <label>Moderator PIN
        <input id="moderator_pin" name="moderator_pin" inputmode="numeric" type="password" placeholder="to join as a moderator" />
      </label>
      <label>Your name <input id="name" name="name" required maxlength="100" /></label>
      <fieldset id="preview">
        <legend>Camera and microphone</legend>
        <video id="preview_video" ref=${video} autoplay muted playsinline aria-label="Your camera preview" hidden=${!state.preview}></video>
        <p class="hint" hidden=${state.preview !== null}>No camera or microphone yet: allow them in the browser, or join without.</p>
        <div class="field">
          <label for="camera_pick">Camera</label>
          <select id="camera_pick" name="camera" value=${state.chosen.camera} onChange=${(/** @type {Event} */ e) => pick('camera', e)}>
            <option value="">Default camera</option>
            ${cameras.map((d) => html`<option key=${d.id} value=${d.id}>${d.label}</option>`)}
          </select>
        </div>
        <div class="field">
          <label for="microphone_pick">Microphone</label>
          <select id="microphone_pick" name="microphone" value=${state.chosen.microphone} onChange=${(/** @type {Event} */ e) => pick('microphone', e)}>
            <option value="">Default microphone</option>
            ${microphones.map((d) => html`<option key=${d.id} value=${d.id}>${d.label}</option>`)}
          </select>
        </div>
        <label class="check"><input type="checkbox" id="mic_off" name="mic_off" /> Join with microphone off</label>
        <label class="check"><input type="checkbox" id="camera_off" name="camera_off" /> Join with camera off</label>
      </fieldset>
      <button id="join_button" type="submit" disabled=${state.joining}>Join</button>
      <p id="join_error" role="alert">${state.joinError}</p>
    </form>
  `;
}

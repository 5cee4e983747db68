// The join form. Its fields are read when it is sent (not kept in state),
// so whatever filled them, a person or a test, is what joins.
import { html } from './html.js';
import { useEffect, useRef } from '../../vendor/hooks.module.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../session.js').Actions} Actions */

/** @param {{state: State, actions: Actions}} props */
export function JoinForm({ state, actions }) {
  const security = useRef(/** @type {HTMLInputElement | null} */ (null));
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
    actions.join({
      access_code: value('access_code'),
      security_code: value('security_code'),
      moderator_pin: value('moderator_pin'),
      name: value('name'),
    });
  }

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
      <button id="join_button" type="submit" disabled=${state.joining}>Join</button>
      <p id="join_error" role="alert">${state.joinError}</p>
    </form>
  `;
}

// The participant list and, for moderators, what they may do to each
// person: mute, remove, remove and block (after a confirmation), promote,
// demote, and name a phone caller; and how well each receives.
import { html } from './html.js';
import { useState } from '../../vendor/hooks.module.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../session.js').Actions} Actions */
/** @typedef {import('../types.js').Participant} Participant */
/** @typedef {import('../types.js').Reception} Reception */

/** @param {{state: State, actions: Actions}} props */
export function Participants({ state, actions }) {
  const moderator = state.role === 'moderator';
  return html`
    <ul id="participants">
      ${state.participants.map(
        (p) => html`<${Person} key=${p.id} p=${p} me=${p.id === state.me} speaking=${p.id === state.speaker}
          moderator=${moderator} actions=${actions} reception=${moderator ? state.reception[p.id] : undefined} />`,
      )}
    </ul>
  `;
}

/**
 * @param {{p: Participant, me: boolean, speaking: boolean, moderator: boolean, actions: Actions, reception?: Reception}} props
 */
function Person({ p, me, speaking, moderator, actions, reception }) {
  const [open, setOpen] = useState(false);
  const notes = [
    p.role === 'moderator' ? 'moderator' : null,
    p.phone ? `phone ${p.number || ''}`.trim() : 'web',
    p.muted ? 'muted' : null,
    speaking ? 'speaking' : null,
  ].filter(Boolean);
  const menuId = `actions_${p.id}`;
  return html`
    <li class=${speaking ? 'speaking' : ''} data-id=${p.id}>
      <span class="who">${p.name}${me ? ' (you)' : ''}</span>
      <span class="notes">${notes.map((n) => html`<span class="badge">${n}</span>`)}</span>
      ${reception ? html`<${Connection} r=${reception} />` : null}
      ${moderator && !me
        ? html`<button type="button" class="more" aria-expanded=${open} aria-controls=${menuId}
            aria-label=${`Actions for ${p.name}`} onClick=${() => setOpen(!open)}>⋯</button>`
        : null}
      ${moderator && !me && open ? html`<${Actions} id=${menuId} p=${p} actions=${actions} />` : null}
    </li>
  `;
}

/**
 * A moderator's view of how well someone receives: a word, and the
 * figures behind it, read as text by a screen reader too.
 * @param {{r: Reception}} props
 */
function Connection({ r }) {
  const figures = [
    r.receive_loss_percent === null ? null : `receives ${r.receive_loss_percent.toFixed(1)} % lost`,
    r.send_loss_percent === null ? null : `sends ${r.send_loss_percent.toFixed(1)} % lost`,
    r.rtt_ms === null ? null : `${r.rtt_ms} ms round trip`,
  ]
    .filter(Boolean)
    .join(', ');
  return html`<span class=${`connection ${r.quality}`} data-quality=${r.quality}>connection ${r.quality} (${figures})</span>`;
}

/** @param {{id: string, p: Participant, actions: Actions}} props */
function Actions({ id, p, actions }) {
  /** @type {['menu' | 'block' | 'name', (s: 'menu' | 'block' | 'name') => void]} */
  const [step, setStep] = useState(/** @type {'menu' | 'block' | 'name'} */ ('menu'));
  if (step === 'block') {
    return html`
      <div id=${id} class="actions confirm" role="group" aria-label=${`Remove and block ${p.name}`}>
        <p>Remove ${p.name} and block them? They cannot come back to this conference, from this device or their account, until a moderator unblocks them.</p>
        <button type="button" class="danger" onClick=${() => actions.remove(p.id, true)}>Remove and block</button>
        <button type="button" onClick=${() => setStep('menu')}>Cancel</button>
      </div>
    `;
  }
  if (step === 'name') {
    /** @param {SubmitEvent} event */
    const submit = async (event) => {
      event.preventDefault();
      const form = /** @type {HTMLFormElement} */ (event.currentTarget);
      const input = /** @type {HTMLInputElement} */ (form.elements.namedItem('caller_name'));
      if (await actions.nameCaller(p.id, input.value.trim())) setStep('menu');
    };
    return html`
      <form id=${id} class="actions" onSubmit=${submit}>
        <label>Name for this caller <input name="caller_name" required maxlength="100" /></label>
        <button type="submit">Save the name</button>
        <button type="button" onClick=${() => setStep('menu')}>Cancel</button>
      </form>
    `;
  }
  return html`
    <div id=${id} class="actions" role="group" aria-label=${`Actions for ${p.name}`}>
      <button type="button" onClick=${() => actions.mute(p.id, !p.muted)}>${p.muted ? 'Unmute' : 'Mute'}</button>
      ${p.role === 'moderator'
        ? p.owner
          ? null
          : html`<button type="button" onClick=${() => actions.demote(p.id)}>Make participant</button>`
        : html`<button type="button" onClick=${() => actions.promote(p.id)}>Make moderator</button>`}
      ${p.phone ? html`<button type="button" onClick=${() => setStep('name')}>Name this caller</button>` : null}
      ${p.owner
        ? null
        : html`
            <button type="button" onClick=${() => actions.remove(p.id, false)}>Remove</button>
            <button type="button" class="danger" onClick=${() => setStep('block')}>Remove and block…</button>
          `}
    </div>
  `;
}

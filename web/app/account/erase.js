// Erasing a person from the summaries, from a row of a session's attendance
// on the reports page (POST /account/erasures, docs/api.md): "Erase…" asks
// first, saying what goes; a phone row erases that number everywhere in the
// account (and its address-book entry), a web row that exact name in this
// conference. Rows already erased offer nothing.
import { html } from '../views/html.js';
import { useEffect, useRef, useState } from '../../vendor/hooks.module.js';
import { call } from '../api.js';

/** @typedef {import('./auth.js').AccountActions} AccountActions */
/** @typedef {{participant: string, name: string, phone_number?: string | null}} Seat */

/** The name the server gives an erased row (src/http/erasure.rs). */
export const ERASED = 'Erased participant';

/**
 * @param {string} token
 * @param {{phone_number: string} | {conference: string, name: string}} who
 */
const erase = (token, who) => call('POST', '/account/erasures', { token, json: who });

/** @param {Seat} seat */
export const erasable = (seat) => seat.name !== ERASED;

/**
 * @param {number} n
 * @param {string} one
 */
const count = (n, one) => `${n} ${one}${n === 1 ? '' : 's'}`;

/**
 * One session's erasing: which row is asking, and what the last erasure
 * said. `done` reloads the page's data once something was erased.
 * @param {string} conference
 * @param {AccountActions} actions
 * @param {() => void} done
 */
export function useErasure(conference, actions, done) {
  const [asking, setAsking] = useState(/** @type {string | null} */ (null));
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  /** The "Erase…" button that opened the question: the focus goes back there. */
  const opener = useRef(/** @type {HTMLElement | null} */ (null));
  const status = useRef(/** @type {HTMLElement | null} */ (null));
  const busy = useRef(false);
  // After an erasure the row's button goes with the reload: the focus
  // waits on the news, once it shows.
  const [news, setNews] = useState(0);
  useEffect(() => {
    if (news > 0) status.current?.focus();
  }, [news]);

  /**
   * @param {string} row which row asks (its place in the session)
   * @param {Event} event
   */
  const ask = (row, event) => {
    opener.current = /** @type {HTMLElement} */ (event.currentTarget);
    setAsking(row);
  };
  const cancel = () => {
    setAsking(null);
    opener.current?.focus();
  };
  /** @param {Seat} seat */
  async function confirm(seat) {
    if (busy.current) return;
    busy.current = true;
    const who = seat.phone_number ? { phone_number: seat.phone_number } : { conference, name: seat.name };
    try {
      const d = await actions.ask((t) => erase(t, who));
      setAsking(null);
      setError('');
      setMessage(`Erased: ${count(d.seats, 'attendance row')} and ${count(d.messages, 'chat message')}.`);
      setNews((n) => n + 1);
      done();
    } catch (e) {
      setAsking(null);
      setMessage('');
      setError(`${seat.name} was not erased: ${e instanceof Error ? e.message : e}`);
      opener.current?.focus();
    } finally {
      busy.current = false;
    }
  }
  return { asking, ask, cancel, confirm, message, error, status };
}

/**
 * @param {{seat: Seat, row: string, asking: boolean, ask: (row: string, event: Event) => void, controls: string}} props
 */
export function EraseButton({ seat, row, asking, ask, controls }) {
  if (!erasable(seat)) return null;
  return html`<button type="button" class="danger" aria-label=${`Erase ${seat.name}…`} aria-expanded=${asking ? 'true' : 'false'}
    aria-controls=${asking ? controls : undefined} onClick=${(/** @type {Event} */ e) => ask(row, e)}>Erase…</button>`;
}

/**
 * The question, under the row it is about.
 * @param {{id: string, seat: Seat, confirm: (seat: Seat) => void, cancel: () => void}} props
 */
export function EraseConfirm({ id, seat, confirm, cancel }) {
  const keep = useRef(/** @type {HTMLButtonElement | null} */ (null));
  useEffect(() => keep.current?.focus(), []);
  const text = `${id}_text`;
  return html`
    <div id=${id} class="confirm" role="group" aria-labelledby=${text}>
      <p id=${text}>
        Erase ${seat.name}?
        ${seat.phone_number
          ? ' Their name, phone number and chat messages are removed from every summary of your account, and the number leaves your address book; their times stay.'
          : ' Their name, phone number and chat messages are removed from every summary of this conference; their times stay.'}
      </p>
      <button type="button" class="danger" onClick=${() => confirm(seat)}>Erase</button>
      <button type="button" ref=${keep} onClick=${cancel}>Keep</button>
    </div>
  `;
}

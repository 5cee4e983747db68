// One webhook endpoint's latest deliveries (docs/webhooks.md), newest
// first: what was sent, whether it arrived, the receiver's last answer;
// a failed one can be sent again. "Refresh" reads them again.
import { html } from '../views/html.js';
import { useEffect, useRef, useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { useLoad, when } from './load.js';

/** @typedef {import('./auth.js').AccountActions} AccountActions */
/** @typedef {import('./webhooks.js').Endpoint} Endpoint */
/**
 * @typedef {object} Delivery
 * @property {number} seq
 * @property {string} event_id
 * @property {string} conference
 * @property {string} type
 * @property {'pending' | 'delivered' | 'failed'} state
 * @property {number} attempts
 * @property {number | null} next_attempt_at
 * @property {number | null} last_status
 * @property {string | null} last_error
 * @property {number} created_at
 * @property {number | null} finished_at
 */

/** How many the panel shows. */
const LIMIT = 50;

/** @param {number} ms */
const at = (ms) => when(new Date(ms).toISOString());

/** @param {Delivery} d */
function state(d) {
  if (d.state === 'pending') return d.next_attempt_at ? `pending, next try ${at(d.next_attempt_at)}` : 'pending';
  return d.state;
}

/** @param {Delivery} d */
function answer(d) {
  const status = d.last_status === null ? '' : `HTTP ${d.last_status}`;
  return [status, d.last_error || ''].filter(Boolean).join(': ');
}

/** @param {{endpoint: Endpoint, actions: AccountActions, close: () => void}} props */
export function Deliveries({ endpoint, actions, close }) {
  const list = useLoad(() => actions.ask((t) => api.webhookDeliveries(t, endpoint.id, LIMIT)), [endpoint.id]);
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  const heading = useRef(/** @type {HTMLElement | null} */ (null));
  // Keyboard users land on the panel they opened.
  useEffect(() => heading.current?.focus(), []);

  /** @param {Delivery} d */
  async function retry(d) {
    try {
      await actions.ask((t) => api.retryDelivery(t, endpoint.id, d.seq));
      setMessage(`The ${d.type} delivery is sent again.`);
      setError('');
    } catch (e) {
      setMessage('');
      setError(String(e instanceof Error ? e.message : e));
    }
    list.reload();
  }
  const refresh = () => {
    setMessage('');
    setError('');
    list.reload();
  };

  /** @type {Delivery[] | undefined} */
  const rows = list.data;
  return html`
    <section id="deliveries" class="card" aria-labelledby="deliveries_heading">
      <h2 id="deliveries_heading" tabindex="-1" ref=${heading}>Deliveries to ${endpoint.url}</h2>
      <p class="hint">The latest ${LIMIT}, newest first. A failed delivery used all its attempts; "Retry" sends it again.</p>
      <div class="row">
        <button type="button" onClick=${refresh}>Refresh</button>
        <button type="button" onClick=${close}>Close</button>
      </div>
      <p role="status">${message}</p>
      <p role="alert">${error || list.error}</p>
      ${rows === undefined
        ? !list.error && html`<p>Loading…</p>`
        : rows.length === 0
          ? html`<p id="no_deliveries">No deliveries yet.</p>`
          : html`<div class="scroll wide" tabindex="0" role="region" aria-label="Deliveries"><table id="delivery_rows">
              <thead><tr>
                <th scope="col">Event</th><th scope="col">State</th><th scope="col">Attempts</th>
                <th scope="col">Last answer</th><th scope="col">Time</th><th scope="col"><span class="visually-hidden">Actions</span></th>
              </tr></thead>
              <tbody>
                ${rows.map(
                  (d) => html`<tr key=${d.seq} data-state=${d.state}>
                    <th scope="row">${d.type}</th>
                    <td>${state(d)}</td>
                    <td>${d.attempts}</td>
                    <td>${answer(d)}</td>
                    <td>${at(d.created_at)}</td>
                    <td>
                      ${d.state === 'failed' &&
                      html`<button type="button" aria-label=${`Retry the ${d.type} delivery of ${at(d.created_at)}`}
                        onClick=${() => retry(d)}>Retry</button>`}
                    </td>
                  </tr>`,
                )}
              </tbody>
            </table></div>`}
    </section>
  `;
}

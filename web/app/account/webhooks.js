// Webhook endpoints (docs/webhooks.md): add a URL with the events it
// wants (its signing secret shows once), list them, delete one after a
// confirmation, and read one's latest deliveries (deliveries.js).
import { html } from '../views/html.js';
import { useEffect, useRef, useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { useLoad, when } from './load.js';
import { Deliveries } from './deliveries.js';

/** @typedef {import('./auth.js').AccountActions} AccountActions */
/** @typedef {{id: string, url: string, events: string[], created_at: number}} Endpoint */

/** Every event type an endpoint can ask for, as the server names them. */
const EVENT_TYPES = [
  'conference.started',
  'conference.ended',
  'participant.joined',
  'participant.left',
  'moderator.action',
  'waiting_room.entered',
  'recording.ready',
  'summary.deleted',
];

/** @param {number} ms */
const at = (ms) => when(new Date(ms).toISOString());

/** Moves the focus to the element once it appears, for keyboard users. */
function useFocus() {
  const ref = useRef(/** @type {HTMLElement | null} */ (null));
  useEffect(() => ref.current?.focus(), []);
  return ref;
}

/** @param {{actions: AccountActions}} props */
export function WebhooksPage({ actions }) {
  const endpoints = useLoad(() => actions.ask(api.webhooks), []);
  const [created, setCreated] = useState(/** @type {{url: string, secret: string} | null} */ (null));
  const [confirm, setConfirm] = useState(/** @type {string | null} */ (null));
  const [shown, setShown] = useState(/** @type {string | null} */ (null));
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');

  /**
   * @param {() => Promise<string>} step answers what the page says after it
   * @returns {Promise<boolean>} whether it worked
   */
  async function run(step) {
    try {
      setMessage(await step());
      setError('');
      endpoints.reload();
      return true;
    } catch (e) {
      setMessage('');
      setError(String(e instanceof Error ? e.message : e));
      return false;
    }
  }
  /** @param {SubmitEvent} e */
  const create = (e) => {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.currentTarget);
    const data = new FormData(form);
    const url = String(data.get('url') || '').trim();
    const events = data.getAll('events').map(String);
    run(async () => {
      const made = await actions.ask((t) => api.createWebhook(t, url, events));
      setCreated({ url: made.url, secret: made.secret });
      return '';
    }).then((ok) => ok && form.reset());
  };
  /** @param {Endpoint} w */
  const remove = (w) => {
    setConfirm(null);
    if (shown === w.id) setShown(null);
    run(async () => {
      await actions.ask((t) => api.deleteWebhook(t, w.id));
      return `The endpoint ${w.url} is deleted.`;
    });
  };
  /** @type {Endpoint[]} */
  const list = endpoints.data || [];
  const open = list.find((w) => w.id === shown);
  return html`
    <h1>Webhooks</h1>
    <p id="webhooks_rule">
      Conclave can tell your own server what happens in your conferences: it sends each event you choose to the
      endpoint's URL as a signed POST, and tries again for a while if the URL does not answer.
    </p>
    <form id="create_webhook" class="card" onSubmit=${create} aria-labelledby="create_webhook_heading">
      <h2 id="create_webhook_heading">Add an endpoint</h2>
      <label for="webhook_url">Endpoint URL</label>
      <input id="webhook_url" name="url" type="url" required maxlength="2000" autocomplete="off"
        placeholder="https://hooks.example.com/conclave" aria-describedby="webhooks_rule" />
      <fieldset>
        <legend>Events to send</legend>
        ${EVENT_TYPES.map(
          (type) => html`<label class="choice">
            <input type="checkbox" name="events" value=${type} defaultChecked=${true} />
            ${type}
          </label>`,
        )}
      </fieldset>
      <div class="row"><button type="submit" class="primary">Add endpoint</button></div>
    </form>
    ${created && html`<${Secret} key=${created.secret} created=${created} done=${() => setCreated(null)} />`}
    <p role="status">${message}</p>
    <p role="alert">${error || endpoints.error}</p>
    <h2>Endpoints</h2>
    ${endpoints.data &&
    (list.length === 0
      ? html`<p id="no_webhooks">No webhook endpoints yet.</p>`
      : html`<div class="scroll wide" tabindex="0" role="region" aria-label="Webhook endpoints"><table id="webhooks">
          <thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Added</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            ${list.map(
              (w) => html`<tr key=${w.id}>
                <th scope="row">${w.url}</th>
                <td>${w.events.join(', ')}</td>
                <td>${at(w.created_at)}</td>
                <td>
                  ${confirm === w.id
                    ? html`<${Confirm} endpoint=${w} remove=${() => remove(w)} cancel=${() => setConfirm(null)} />`
                    : html`<div class="row">
                        <button type="button" aria-label=${`Deliveries to ${w.url}`} aria-expanded=${shown === w.id ? 'true' : 'false'}
                          aria-controls=${shown === w.id ? 'deliveries' : undefined}
                          onClick=${() => setShown(shown === w.id ? null : w.id)}>Deliveries</button>
                        <button type="button" class="danger" aria-label=${`Delete ${w.url}`} onClick=${() => setConfirm(w.id)}>Delete…</button>
                      </div>`}
                </td>
              </tr>`,
            )}
          </tbody>
        </table></div>`)}
    ${open && html`<${Deliveries} key=${open.id} endpoint=${open} actions=${actions} close=${() => setShown(null)} />`}
  `;
}

/** @param {{created: {url: string, secret: string}, done: () => void}} props */
function Secret({ created, done }) {
  const field = useFocus();
  return html`
    <div id="new_webhook" class="notice" role="status">
      <p id="new_webhook_note">
        The signing secret for ${created.url}: copy it now, it is shown only this once. Your server checks each
        request's <code>webhook-signature</code> with it.
      </p>
      <label class="secret">Signing secret
        <input id="new_webhook_secret" ref=${field} readonly value=${created.secret} autocomplete="off" spellcheck="false"
          aria-describedby="new_webhook_note" onFocus=${(/** @type {FocusEvent} */ e) => /** @type {HTMLInputElement} */ (e.currentTarget).select()} />
      </label>
      <button type="button" onClick=${done}>Done</button>
    </div>
  `;
}

/** @param {{endpoint: Endpoint, remove: () => void, cancel: () => void}} props */
function Confirm({ endpoint, remove, cancel }) {
  const keep = useFocus();
  const text = `confirm_${endpoint.id}`;
  return html`
    <div class="confirm" role="group" aria-labelledby=${text}>
      <p id=${text}>Delete the endpoint ${endpoint.url}? Nothing more is sent to it, and its secret stops being used.</p>
      <button type="button" class="danger" onClick=${remove}>Delete the endpoint</button>
      <button type="button" ref=${keep} onClick=${cancel}>Keep it</button>
    </div>
  `;
}

// API keys (docs/tokens.md): create one for an application (the key shows
// once), list them, revoke one after a confirmation.
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { fields, useLoad, when } from './load.js';

/** @typedef {import('./auth.js').AccountActions} AccountActions */
/** @typedef {{id: string, name: string, created_at: number, revoked_at: number | null}} ApiKey */

/** @param {number} ms */
const at = (ms) => when(new Date(ms).toISOString());

/** @param {{actions: AccountActions}} props */
export function KeysPage({ actions }) {
  const keys = useLoad(() => actions.ask(api.apiKeys), []);
  const [created, setCreated] = useState(/** @type {{name: string, key: string} | null} */ (null));
  const [confirm, setConfirm] = useState(/** @type {string | null} */ (null));
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');

  /** @param {() => Promise<string>} step */
  async function run(step) {
    try {
      setMessage(await step());
      setError('');
      keys.reload();
    } catch (e) {
      setError(String(e instanceof Error ? e.message : e));
    }
  }
  /** @param {SubmitEvent} e */
  const create = (e) => {
    const name = fields(e).name.trim();
    /** @type {HTMLFormElement} */ (e.currentTarget).reset();
    run(async () => {
      const made = await actions.ask((t) => api.createApiKey(t, name));
      setCreated({ name: made.name, key: made.key });
      return '';
    });
  };
  /** @type {ApiKey[]} */
  const list = keys.data || [];
  return html`
    <h1>API keys</h1>
    <p id="keys_rule">
      An application holding a key can seat its own users in your conferences with a join token, with the name and role
      it gives them, without codes. Keep keys on the application's server. Revoking a key stops its tokens at once.
    </p>
    <form id="create_key" class="inline" onSubmit=${create}>
      <label for="key_name">What the key is for</label>
      <input id="key_name" name="name" required maxlength="100" autocomplete="off" aria-describedby="keys_rule" />
      <button type="submit" class="primary">Create a key</button>
    </form>
    ${created &&
    html`<div id="new_key" class="notice" role="status">
      <p>The key for ${created.name}: copy it now, it is shown only this once.</p>
      <p><code id="new_key_value">${created.key}</code></p>
      <button type="button" onClick=${() => setCreated(null)}>Done</button>
    </div>`}
    <p role="status">${message}</p>
    <p role="alert">${error || keys.error}</p>
    ${list.length === 0
      ? html`<p id="no_keys">No API keys yet.</p>`
      : html`<div class="scroll"><table id="keys">
          <thead><tr><th scope="col">Name</th><th scope="col">Created</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            ${list.map(
              (k) => html`<tr key=${k.id}>
                <th scope="row">${k.name}</th>
                <td>${at(k.created_at)}</td>
                <td>${k.revoked_at ? `Revoked ${at(k.revoked_at)}` : 'Active'}</td>
                <td>
                  ${k.revoked_at
                    ? null
                    : confirm === k.id
                      ? html`<div class="confirm" role="group" aria-label=${`Revoke ${k.name}`}>
                          <p>Revoke ${k.name}? Applications using it can no longer seat anyone; tokens already minted stop working.</p>
                          <button type="button" class="danger" onClick=${() => {
                            setConfirm(null);
                            run(async () => {
                              await actions.ask((t) => api.revokeApiKey(t, k.id));
                              return `${k.name} is revoked.`;
                            });
                          }}>Revoke the key</button>
                          <button type="button" onClick=${() => setConfirm(null)}>Keep it</button>
                        </div>`
                      : html`<button type="button" class="danger" aria-label=${`Revoke ${k.name}`} onClick=${() => setConfirm(k.id)}>Revoke…</button>`}
                </td>
              </tr>`,
            )}
          </tbody>
        </table></div>`}
  `;
}

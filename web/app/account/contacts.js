// The address book: the phone callers a moderator named, with their full
// numbers (only the owner reads this page). Rename one, or delete it after
// a confirmation; its number then shows masked again on its next call.
import { html } from '../views/html.js';
import { useEffect, useRef, useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { fields, useLoad, when } from './load.js';

/** @typedef {import('./auth.js').AccountActions} AccountActions */
/** @typedef {{id: string, name: string, number: string | null, updated_at: string}} Contact */

/** @param {{actions: AccountActions}} props */
export function ContactsPage({ actions }) {
  const list = useLoad(() => actions.ask(api.contacts), []);
  // One contact at a time is being renamed or deleted.
  const [open, setOpen] = useState(/** @type {{id: string, step: 'rename' | 'delete'} | null} */ (null));
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');

  /**
   * @param {() => Promise<string>} change answers what the page says after it
   * @param {string} failed what the page says before the server's reason
   */
  async function run(change, failed) {
    try {
      setMessage(await change());
      setError('');
      setOpen(null);
      list.reload();
    } catch (e) {
      setMessage('');
      setError(`${failed}: ${e instanceof Error ? e.message : e}`);
    }
  }

  /** @type {Contact[] | undefined} */
  const contacts = list.data;
  return html`
    <h1>Address book</h1>
    <p>
      When a moderator names a phone caller in one of your conferences, the name is kept here with the number.
      The next time that number calls, it joins under that name. Delete a contact and the number shows masked again.
    </p>
    <p role="alert">${list.error || error}</p>
    <p role="status">${message}</p>
    ${contacts && contacts.length === 0 && html`<p id="no_contacts">No contacts yet.</p>`}
    ${contacts &&
    contacts.length > 0 &&
    html`<div class="scroll" tabindex="0" role="region" aria-label="Contacts"><table id="contacts">
      <thead><tr><th scope="col">Name</th><th scope="col">Number</th><th scope="col">Named</th><th scope="col">Change</th></tr></thead>
      <tbody>
        ${contacts.map(
          (c) => html`<tr key=${c.id}>
            <th scope="row">${c.name}</th>
            <td>${c.number || '(cannot be read)'}</td>
            <td>${when(c.updated_at)}</td>
            <td>
              ${open && open.id === c.id && open.step === 'rename'
                ? html`<${Rename} contact=${c} cancel=${() => setOpen(null)}
                    save=${(/** @type {string} */ name) =>
                      run(async () => {
                        const renamed = await actions.ask((t) => api.renameContact(t, c.id, name));
                        return `Renamed to ${renamed.name}.`;
                      }, 'The name was not saved')} />`
                : open && open.id === c.id && open.step === 'delete'
                  ? html`<${Confirm} contact=${c} cancel=${() => setOpen(null)}
                      remove=${() =>
                        run(async () => {
                          await actions.ask((t) => api.deleteContact(t, c.id));
                          return `${c.name} is deleted from your address book.`;
                        }, 'The contact was not deleted')} />`
                  : html`<div class="row">
                      <button type="button" aria-label=${`Rename ${c.name}`} onClick=${() => setOpen({ id: c.id, step: 'rename' })}>Rename…</button>
                      <button type="button" class="danger" aria-label=${`Delete ${c.name}`}
                        onClick=${() => setOpen({ id: c.id, step: 'delete' })}>Delete…</button>
                    </div>`}
            </td>
          </tr>`,
        )}
      </tbody>
    </table></div>`}
  `;
}

/** Moves the focus to the element once it appears, for keyboard users. */
function useFocus() {
  const ref = useRef(/** @type {HTMLElement | null} */ (null));
  useEffect(() => ref.current?.focus(), []);
  return ref;
}

/** @param {{contact: Contact, save: (name: string) => void, cancel: () => void}} props */
function Rename({ contact, save, cancel }) {
  const input = useFocus();
  /** @param {SubmitEvent} e */
  const submit = (e) => save(fields(e).name.trim());
  return html`
    <form class="inline" onSubmit=${submit} aria-label=${`Rename ${contact.name}`}>
      <label>New name <input ref=${input} name="name" defaultValue=${contact.name} required maxlength="100" autocomplete="off" /></label>
      <button type="submit" class="primary">Save the name</button>
      <button type="button" onClick=${cancel}>Cancel</button>
    </form>
  `;
}

/** @param {{contact: Contact, remove: () => void, cancel: () => void}} props */
function Confirm({ contact, remove, cancel }) {
  const keep = useFocus();
  const text = `confirm_${contact.id}`;
  return html`
    <div class="confirm" role="group" aria-labelledby=${text}>
      <p id=${text}>
        Delete ${contact.name} from your address book? Their number's next call shows it masked, until a moderator names
        them again.
      </p>
      <button type="button" class="danger" onClick=${remove}>Delete the contact</button>
      <button type="button" ref=${keep} onClick=${cancel}>Keep it</button>
    </div>
  `;
}

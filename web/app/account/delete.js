// Deleting the account, at the foot of the security page: what goes, in
// plain words; then, after "Delete your account…", the password and the
// final button. A refusal (a wrong password) shows the server's reason and
// keeps the form; success signs the page out (auth.js).
import { html } from '../views/html.js';
import { useEffect, useRef, useState } from '../../vendor/hooks.module.js';
import { fields } from './load.js';

/** @typedef {import('./auth.js').AccountActions} AccountActions */

/** @param {{actions: AccountActions}} props */
export function DeleteAccount({ actions }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState('');
  const opener = useRef(/** @type {HTMLButtonElement | null} */ (null));
  const password = useRef(/** @type {HTMLInputElement | null} */ (null));
  const busy = useRef(false);
  // The step opens with the focus in the password field; "Keep my account"
  // gives it back to the button that opened it.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    (open ? password : opener).current?.focus();
  }, [open]);

  /** @param {SubmitEvent} e */
  async function submit(e) {
    const typed = fields(e).password;
    if (busy.current) return;
    busy.current = true;
    try {
      await actions.deleteAccount(typed);
      // Signed out: the shell now shows the sign-in page and its farewell.
    } catch (err) {
      setError(`The account was not deleted: ${err instanceof Error ? err.message : err}`);
      password.current?.focus();
      password.current?.select();
    } finally {
      busy.current = false;
    }
  }
  const cancel = () => {
    setOpen(false);
    setError('');
  };

  return html`
    <section class="card danger-zone" aria-labelledby="delete_heading">
      <h2 id="delete_heading">Delete your account</h2>
      <div id="delete_rule">
        <p>Deleting your account deletes everything it holds:</p>
        <ul>
          <li>your line and your scheduled conferences, with their codes;</li>
          <li>all meeting history: attendance, moderator actions and chat;</li>
          <li>recordings and shared documents;</li>
          <li>your address book's contacts;</li>
          <li>your API keys (applications can no longer seat anyone) and your webhook endpoints.</li>
        </ul>
        <p>
          Meetings under way on your line or your conferences are ended for everyone in them. You are signed out, and
          your e-mail address can be used for a new account. <strong>This cannot be undone.</strong>
        </p>
      </div>
      ${open
        ? html`<div class="confirm" role="group" aria-labelledby="delete_confirm_text">
            <p id="delete_confirm_text">
              Delete your account and everything listed above, for good? Type your password to confirm.
            </p>
            <form id="delete_account_form" class="inline" onSubmit=${submit}>
              <label for="delete_password">Your password</label>
              <input id="delete_password" ref=${password} name="password" type="password" required
                autocomplete="current-password" aria-describedby="delete_confirm_text delete_error"
                aria-invalid=${error ? 'true' : undefined} />
              <button type="submit" class="danger">Delete my account</button>
              <button type="button" onClick=${cancel}>Keep my account</button>
            </form>
            <p id="delete_error" role="alert">${error}</p>
          </div>`
        : html`<div class="row">
            <button type="button" class="danger" ref=${opener} onClick=${() => setOpen(true)}>Delete your account…</button>
          </div>`}
    </section>
  `;
}

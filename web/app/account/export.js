// "Download all your data", on the security page: the account export
// (docs/persistence.md "Exporting an account"), fetched with the token in a
// header (it never goes in a URL) and saved as a tar archive.
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import { saveBlob } from './load.js';

/** @typedef {import('./auth.js').AccountActions} AccountActions */

/** @param {{actions: AccountActions}} props */
export function ExportData({ actions }) {
  const [state, setState] = useState('');
  const [busy, setBusy] = useState(false);

  async function download() {
    const token = actions.token();
    if (!token || busy) return;
    setBusy(true);
    setState('Preparing your archive…');
    try {
      const res = await fetch('/api/v1/account/export', { headers: { Authorization: `Bearer ${token}` } });
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      const blob = await res.blob();
      saveBlob(`conclave-export-${new Date().toISOString().slice(0, 10)}.tar`, blob);
      setState('Your archive is downloaded.');
    } catch (err) {
      setState(`The archive could not be made: ${err instanceof Error ? err.message : err}`);
    } finally {
      setBusy(false);
    }
  }

  return html`
    <section class="card" aria-labelledby="export_heading">
      <h2 id="export_heading">Your data</h2>
      <p id="export_rule">
        One archive of everything your account holds: your account, conferences, contacts, API keys and webhook
        endpoints, every meeting's attendance (phone numbers in full), moderator actions and chat, and your recordings,
        with a manifest of each file's checksum.
      </p>
      <div class="row">
        <button type="button" onClick=${download} disabled=${busy} aria-describedby="export_rule">
          Download all your data
        </button>
      </div>
      <p id="export_state" role="status">${state}</p>
    </section>
  `;
}

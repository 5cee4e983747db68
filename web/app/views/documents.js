// Documents shared in the room (docs/protocol.md "Documents"): the list,
// each with download and, for its uploader or a moderator, remove; the
// upload with its progress, or why this person may not share.
import { html } from './html.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../session.js').Actions} Actions */

/** @param {number} bytes */
function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** @param {{state: State, actions: Actions}} props */
export function Documents({ state, actions }) {
  const moderator = state.role === 'moderator';
  const allowed = state.permissions.share === 'everyone' || moderator;
  const names = new Map(state.participants.map((p) => [p.id, p.name]));

  /** @param {Event} event */
  async function picked(event) {
    const input = /** @type {HTMLInputElement} */ (event.currentTarget);
    const file = input.files && input.files[0];
    if (!file) return;
    await actions.uploadDocument(file);
    // The same file may be chosen again.
    input.value = '';
  }

  const upload = state.upload;
  return html`
    <h3>Documents</h3>
    ${state.documents.length === 0
      ? html`<p id="no_documents" class="hint">No documents shared yet.</p>`
      : html`<ul id="documents">
          ${state.documents.map(
            (d) => html`<li key=${d.id} data-id=${d.id}>
              <span class="doc-name">${d.name}</span>
              <span class="hint"> ${size(d.size)}, from ${names.get(d.by) || 'someone who left'}</span>
              <button type="button" aria-label=${`Download ${d.name}`} onClick=${() => actions.downloadDocument(d)}>Download</button>
              ${moderator || d.by === state.me
                ? html`<button type="button" aria-label=${`Remove ${d.name}`} onClick=${() => actions.removeDocument(d.id)}>Remove</button>`
                : null}
            </li>`,
          )}
        </ul>`}
    <div class="upload">
      <label for="document_file">Share a document</label>
      <input id="document_file" type="file" disabled=${!allowed || upload !== null} onChange=${picked}
        aria-describedby=${allowed ? undefined : 'share_why'} />
      ${upload
        ? html`<label class="progress">Uploading ${upload.name}
            <progress id="upload_progress" max="100" value=${Math.round(upload.fraction * 100)}></progress></label>`
        : null}
    </div>
    <p id="share_why" class="hint" hidden=${allowed}>Only moderators may share documents and screens: a moderator chose so in the settings.</p>
  `;
}

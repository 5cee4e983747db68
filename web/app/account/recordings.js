// A conference's recordings: play (audio), download, delete one file or a
// whole recording. Files are fetched with the token in a header and played
// or saved from a blob: the token never goes in a URL.
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { saveBlob, size, when } from './load.js';

/** @typedef {import('./auth.js').AccountActions} AccountActions */

/** @param {{id: string, list: {data: any, error: string, reload: () => void}, actions: AccountActions}} props */
export function Recordings({ id, list, actions }) {
  const [playing, setPlaying] = useState(/** @type {{file: string, url: string} | null} */ (null));
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState('');

  /**
   * @param {string} rec
   * @param {string} file
   */
  async function fetchFile(rec, file) {
    const token = actions.token();
    const blob = token ? await api.recordingFile(token, id, rec, file) : null;
    if (!blob) setError('That file cannot be fetched: it may have been deleted.');
    return blob;
  }
  /**
   * @param {string} rec
   * @param {string} file
   */
  async function play(rec, file) {
    const blob = await fetchFile(rec, file);
    if (!blob) return;
    if (playing) URL.revokeObjectURL(playing.url);
    setPlaying({ file, url: URL.createObjectURL(blob) });
  }
  /**
   * @param {string} rec
   * @param {string} file
   */
  async function save(rec, file) {
    const blob = await fetchFile(rec, file);
    if (blob) saveBlob(file, blob);
  }
  /**
   * @param {string} rec
   * @param {string} [file]
   */
  async function remove(rec, file) {
    setConfirm('');
    try {
      await actions.ask((t) => api.deleteRecording(t, id, rec, file));
      setError('');
      list.reload();
    } catch (e) {
      setError(String(e instanceof Error ? e.message : e));
    }
  }

  return html`
    <section aria-labelledby="recordings_heading">
      <h2 id="recordings_heading">Recordings</h2>
      <p role="alert">${list.error || error}</p>
      ${list.data && list.data.length === 0 && html`<p>No recordings.</p>`}
      ${playing &&
      html`<figure class="player">
        <audio controls autoplay src=${playing.url} aria-label=${`Playing ${playing.file}`}></audio>
        <figcaption>${playing.file}</figcaption>
      </figure>`}
      ${(list.data || []).map(
        (/** @type {any} */ r) => html`<section class="card" aria-label=${`Recording of ${when(r.started_at)}`}>
          <h3>Recording of ${when(r.started_at)}</h3>
          <div class="scroll" tabindex="0" role="region" aria-label=${`Files of the recording of ${when(r.started_at)}`}><table>
            <thead><tr><th scope="col">File</th><th scope="col">Kind</th><th scope="col">Length</th><th scope="col">Size</th><th scope="col">Actions</th></tr></thead>
            <tbody>
              ${r.files.map(
                (/** @type {any} */ f) => html`<tr>
                  <th scope="row">${f.file}</th><td>${f.source} (${f.codec})</td>
                  <td>${Math.round(f.duration_ms / 1000)} s</td><td>${size(f.bytes)}</td>
                  <td class="row">
                    ${f.file.endsWith('.ogg') && html`<button type="button" onClick=${() => play(r.id, f.file)}>Play <span class="visually-hidden">${f.file}</span></button>`}
                    <button type="button" onClick=${() => save(r.id, f.file)}>Download <span class="visually-hidden">${f.file}</span></button>
                    ${confirm === `${r.id}/${f.file}`
                      ? html`<button type="button" class="danger" onClick=${() => remove(r.id, f.file)}>Really delete ${f.file}</button>`
                      : html`<button type="button" class="danger" onClick=${() => setConfirm(`${r.id}/${f.file}`)}>Delete <span class="visually-hidden">${f.file}</span>…</button>`}
                  </td>
                </tr>`,
              )}
            </tbody>
          </table></div>
          ${confirm === r.id
            ? html`<p>Delete every file of this recording? This cannot be undone.</p>
                <button type="button" class="danger" onClick=${() => remove(r.id)}>Delete the recording</button>
                <button type="button" onClick=${() => setConfirm('')}>Keep it</button>`
            : html`<button type="button" class="danger" onClick=${() => setConfirm(r.id)}>Delete the whole recording…</button>`}
          <p class="hint">Video files (.ivf) are raw VP8: download them and play them with a player such as VLC or ffplay.</p>
        </section>`,
      )}
    </section>
  `;
}

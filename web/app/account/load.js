// What the account views share: loading data when they open, showing
// dates and durations, and saving downloaded files.
import { useEffect, useState } from '../../vendor/hooks.module.js';

/**
 * Runs `load` when `deps` change; `reload()` runs it again.
 * @param {() => Promise<any>} load
 * @param {unknown[]} deps
 * @returns {{data: any, error: string, reload: () => void}}
 */
export function useLoad(load, deps) {
  const [data, setData] = useState(/** @type {any} */ (undefined));
  const [error, setError] = useState('');
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    load().then(
      (d) => {
        if (live) {
          setData(d);
          setError('');
        }
      },
      (e) => live && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

/** @param {string | null | undefined} iso */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

/**
 * "1 h 02 min 05 s" between two instants, or '' while one is missing.
 * @param {string | null | undefined} from
 * @param {string | null | undefined} to
 */
export function duration(from, to) {
  if (!from || !to) return '';
  const s = Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return h > 0 ? `${h} h ${pad(m)} min ${pad(s % 60)} s` : `${m} min ${pad(s % 60)} s`;
}

/** @param {number} bytes */
export function size(bytes) {
  return bytes < 1024 * 1024 ? `${Math.ceil(bytes / 1024)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * @param {SubmitEvent} event
 * @returns {Record<string, string>} the form's fields by name
 */
export function fields(event) {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.currentTarget);
  return Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v)]));
}

/**
 * Saves a blob as a file named `name` (the token-authorised downloads:
 * recordings, attendance CSV).
 * @param {string} name
 * @param {Blob} blob
 */
export function saveBlob(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

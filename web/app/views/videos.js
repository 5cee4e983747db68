// The video grid: one tile per participant whose media arrived.
import { html } from './html.js';
import { useEffect, useRef } from '../../vendor/hooks.module.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../types.js').Tile} Tile */

/** @param {{tile: Tile, label: string, speaking: boolean}} props */
function Video({ tile, label, speaking }) {
  const ref = useRef(/** @type {HTMLVideoElement | null} */ (null));
  useEffect(() => {
    const video = ref.current;
    if (!video) return;
    if (video.srcObject !== tile.stream) video.srcObject = tile.stream;
    // A track added to the stream: play again.
    video.play().catch(() => {});
  }, [tile.stream, tile.tracks]);
  // Never play one's own microphone back.
  return html`
    <figure class=${`tile${speaking ? ' speaking' : ''}${tile.screen ? ' screen' : ''}`} data-owner=${tile.owner}>
      <video ref=${ref} autoplay playsinline muted=${tile.mine}></video>
      <figcaption>${label}${speaking ? ' (speaking)' : ''}</figcaption>
    </figure>
  `;
}

/**
 * @param {Tile} t
 * @param {Map<string, string>} names
 */
function label(t, names) {
  const who = t.mine ? 'You' : names.get(t.owner) || '';
  if (!t.screen) return who;
  return t.mine ? 'Your screen' : `${who}'s screen`;
}

/** @param {{state: State}} props */
export function Videos({ state }) {
  const names = new Map(state.participants.map((p) => [p.id, p.name]));
  return html`
    <div id="videos" class=${`count-${Math.min(state.tiles.length, 5)}`}>
      ${state.tiles.map(
        (t) => html`<${Video} key=${t.id} tile=${t} label=${label(t, names)} speaking=${!t.screen && t.id === state.speaker} />`,
      )}
    </div>
  `;
}

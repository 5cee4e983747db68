// The video grid: one tile per participant whose media arrived. Each
// other participant's tile says whether it can be seen (laid out and in
// the viewport), so the server sends no video nobody sees.
import { html } from './html.js';
import { useEffect, useRef } from '../../vendor/hooks.module.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../types.js').Tile} Tile */

/** @typedef {(participant: string, source: 'camera' | 'screen', visible: boolean, height: number) => void} Watch */

/**
 * Tells `watch` whenever the tile `ref` holds comes into sight or goes out
 * of it: scrolled away or hidden.
 * @param {{current: Element | null}} ref
 * @param {Tile} tile
 * @param {Watch | undefined} watch
 */
function useSeen(ref, tile, watch) {
  useEffect(() => {
    const el = ref.current;
    if (!el || tile.mine || !watch) return undefined;
    const source = tile.screen ? 'screen' : 'camera';
    /** @type {boolean | null} */
    let seen = null;
    let height = 0;
    let told = '';
    const tell = () => {
      if (seen === null || height === 0) return;
      const now = `${seen} ${height}`;
      if (now !== told) watch(tile.owner, source, seen, height);
      told = now;
    };
    // Not the page's own visibility: a meeting in a background tab still
    // shows in a picture-in-picture or a second window, and a hidden page
    // lays nothing out, so this observer is quiet meanwhile.
    const visibility = new IntersectionObserver((entries) => {
      seen = entries.some((e) => e.isIntersecting);
      tell();
    });
    // Its size in device pixels, in steps of 90 so that a resize by a few
    // pixels says nothing: a simulcast publisher's smallest layer that
    // fills it is sent.
    const size = new ResizeObserver((entries) => {
      const css = entries[entries.length - 1].contentRect.height;
      height = Math.min(8192, Math.max(90, Math.ceil((css * window.devicePixelRatio) / 90) * 90));
      tell();
    });
    visibility.observe(el);
    size.observe(el);
    return () => {
      visibility.disconnect();
      size.disconnect();
    };
  }, [tile.id, watch]);
}

/** @param {{tile: Tile, label: string, speaking: boolean, main: boolean, phone: boolean, watch?: Watch}} props */
function Video({ tile, label, speaking, main, phone, watch }) {
  const ref = useRef(/** @type {HTMLVideoElement | null} */ (null));
  // The tile, not its video: a video sent nothing shows "Camera off" and
  // hides its element, which must not read as the tile being out of sight.
  const figure = useRef(/** @type {HTMLElement | null} */ (null));
  useSeen(figure, tile, watch);
  useEffect(() => {
    const video = ref.current;
    if (!video) return;
    if (video.srcObject !== tile.stream) video.srcObject = tile.stream;
    // A track added to the stream: play again.
    video.play().catch(() => {});
  }, [tile.stream, tile.tracks]);
  // Never play one's own microphone back.
  return html`
    <figure ref=${figure} class=${`tile${speaking ? ' speaking' : ''}${tile.screen ? ' screen' : ''}${main ? ' main' : ''}${tile.video ? '' : ' no-video'}${phone ? ' phone' : ''}`} data-owner=${tile.owner}>
      <video ref=${ref} autoplay playsinline muted=${tile.mine}></video>
      ${tile.video ? null : html`<span class="camera-off">${phone ? 'On the phone' : 'Camera off'}</span>`}
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

/**
 * The tile speaker view puts large: a shared screen, else the active
 * speaker, else someone else than oneself.
 * @param {State} state
 */
function mainTile(state) {
  const t = state.tiles;
  const pick = t.find((x) => x.screen) || t.find((x) => !x.screen && x.id === state.speaker) || t.find((x) => !x.mine) || t[0];
  return pick ? pick.id : null;
}

/** @param {{state: State, watch?: Watch}} props */
export function Videos({ state, watch }) {
  const names = new Map(state.participants.map((p) => [p.id, p.name]));
  // A caller's tile carries only their voice: it says so.
  const phones = new Set(state.participants.filter((p) => p.phone).map((p) => p.id));
  // The grid's columns follow the number of tiles (room.css, count-N);
  // speaker view shows one large and the others in a strip.
  const main = state.speakerView ? mainTile(state) : null;
  // In the grid a shared screen comes first: a tile out of sight is sent
  // no video, and the screen is what everyone came to look at.
  const first = (/** @type {(t: Tile) => boolean} */ pick) => [...state.tiles.filter(pick), ...state.tiles.filter((x) => !pick(x))];
  const tiles = main ? first((x) => x.id === main) : first((x) => x.screen && !x.mine);
  const layout = state.speakerView ? 'speaker-view' : `count-${Math.min(state.tiles.length, 9)}`;
  return html`
    <div id="videos" class=${layout} data-main=${main || undefined}>
      ${tiles.map(
        (t) =>
          html`<${Video} key=${t.id} tile=${t} label=${label(t, names)} speaking=${!t.screen && t.id === state.speaker} main=${t.id === main} phone=${phones.has(t.owner)} watch=${watch} />`,
      )}
    </div>
  `;
}

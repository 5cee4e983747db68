// The meeting room: the menu on the left (participants, the settings cog,
// chat), the video grid, and the banners that tell everyone what changed.
import { html } from './html.js';
import { Participants } from './participants.js';
import { Settings } from './settings.js';
import { Chat } from './chat.js';
import { Videos } from './videos.js';
import { WaitingList } from './waiting.js';
import { mayShare } from '../state.js';
import { explainKnock } from '../words.js';

/** @typedef {import('../state.js').State} State */
/** @typedef {import('../session.js').Actions} Actions */

/** @param {{state: State, actions: Actions}} props */
export function Room({ state, actions }) {
  const e2e = state.media.mode === 'p2p';
  const moderator = state.role === 'moderator';
  return html`
    <section id="room" hidden=${state.phase !== 'room'} aria-labelledby="title">
      <header>
        <h1 id="title">${state.title}</h1>
        <span id="mode" class=${e2e ? 'e2e' : ''} tabindex="0"
          title=${e2e
            ? 'Only the two of you can see and hear this call: the server passes nothing on.'
            : 'Your media is encrypted on its way to the server, which forwards it to the others.'}
          >${e2e ? 'End-to-end encrypted' : 'Encrypted to the server'}</span>
        <span id="recording" class="banner recording" role="status" hidden=${!state.recording}>● Recording: everyone is told</span>
        <span id="locked" class="banner" role="status" hidden=${!state.locked}>🔒 Locked: nobody new may join</span>
        <button id="share_screen" type="button" aria-pressed=${state.sharing} disabled=${!mayShare(state) && !state.sharing}
          aria-describedby=${mayShare(state) ? undefined : 'screen_why'} onClick=${actions.toggleScreen}>
          ${state.sharing ? 'Stop sharing' : 'Share screen'}
        </button>
        <span id="screen_why" class="hint" hidden=${mayShare(state)}>Only moderators may share screens: a moderator chose so in the settings.</span>
        <button id="speaker_view" type="button" aria-pressed=${state.speakerView} onClick=${actions.toggleSpeakerView}>
          Speaker view
        </button>
        <button id="mute_self" type="button" aria-pressed=${!state.micOn} onClick=${actions.toggleMicrophone}>
          ${state.micOn ? 'Mute' : 'Unmute'}
        </button>
        <button id="camera_self" type="button" aria-pressed=${!state.cameraOn} disabled=${state.cameraBusy} onClick=${actions.toggleCamera}>
          ${state.cameraOn ? 'Stop camera' : 'Start camera'}
        </button>
        <button id="sounds" type="button" aria-pressed=${state.sounds} onClick=${actions.toggleSounds}
          title="Tones when someone joins or leaves, is turned away, or when the lock or the recording changes">
          Sounds
        </button>
        <button id="leave" type="button" onClick=${actions.leave}>Leave</button>
      </header>
      ${moderator && state.knock
        ? html`<p id="knock" class="banner" role="status">
            <span>${explainKnock(state.knock)}</span>
            ${state.knock.reason === 'locked' && state.locked
              ? html` <button type="button" onClick=${actions.unlock}>Unlock</button>`
              : null}
            <button type="button" onClick=${actions.dismissKnock}>Dismiss</button>
          </p>`
        : null}
      <p id="resuming" class="banner" role="status" hidden=${state.link !== 'resuming'}>
        The connection dropped: taking your seat back…
      </p>
      <p id="room_error" role="alert">${state.roomError}</p>
      <nav id="menu" aria-label="Meeting menu">
        <${WaitingList} state=${state} actions=${actions} />
        <h2>Participants</h2>
        <${Participants} state=${state} actions=${actions} />
        ${moderator ? html`<${Settings} state=${state} actions=${actions} />` : null}
        <${Chat} state=${state} actions=${actions} />
      </nav>
      <${Videos} state=${state} watch=${actions.watch} />
    </section>
  `;
}

// The meeting room page's entry point: builds the session and renders its
// state. The server enforces the room's rules; this page only shows them.
import { render } from '../vendor/preact.module.js';
import { html } from './views/html.js';
import { App } from './views/app.js';
import { createSession } from './session.js';

const { store, actions, diagnostics } = createSession();
const root = /** @type {HTMLElement} */ (document.getElementById('app'));
const draw = () => render(html`<${App} state=${store.get()} actions=${actions} />`, root);
store.subscribe(draw);
draw();

// For diagnostics (and the browser tests): what this page receives.
/** @type {any} */ (window).conclave = diagnostics;

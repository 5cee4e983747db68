// The account pages' entry point (`/account`): the signed-in account and
// the route (the location's hash, `#/line`, `#/conferences/ID`...) go
// into a store; the shell renders the page the route names.
import { render } from '../../vendor/preact.module.js';
import { html } from '../views/html.js';
import { createAccount } from './auth.js';
import { Shell } from './shell.js';

const { store, actions } = createAccount();
const route = () => store.update({ route: location.hash.replace(/^#\/?/, '') || 'line' });
window.addEventListener('hashchange', route);
route();

const root = /** @type {HTMLElement} */ (document.getElementById('app'));
const draw = () => render(html`<${Shell} state=${store.get()} actions=${actions} />`, root);
store.subscribe(draw);
draw();

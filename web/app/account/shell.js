// The account pages' frame: sign in or sign up when signed out (saying so
// after the account was deleted); else the navigation, the one-time
// notice, and the page the route names.
import { html } from '../views/html.js';
import { useEffect, useRef } from '../../vendor/hooks.module.js';
import { LinePage, SecurityPage } from './line.js';
import { ConferencePage, ConferencesPage } from './conferences.js';
import { ReportPage, ReportsPage } from './reports.js';
import { ContactsPage } from './contacts.js';
import { KeysPage } from './keys.js';
import { WebhooksPage } from './webhooks.js';
import { OrganisationPage } from './organisation.js';
import { fields } from './load.js';

/** @typedef {import('./auth.js').AccountState} AccountState */
/** @typedef {import('./auth.js').AccountActions} AccountActions */

const NAV = [
  ['line', 'Your line'],
  ['security', 'Security'],
  ['organisation', 'Organisation'],
  ['conferences', 'Scheduling'],
  ['reports', 'Reports'],
  ['contacts', 'Address book'],
  ['keys', 'API keys'],
  ['webhooks', 'Webhooks'],
];

/** @param {{state: AccountState, actions: AccountActions}} props */
export function Shell({ state, actions }) {
  if (!state.token) return html`<${SignIn} state=${state} actions=${actions} />`;
  const [page, id] = state.route.split('/');
  return html`
    <header class="top">
      <a class="brand" href="/">Conclave</a>
      <nav aria-label="Account">
        <ul>
          ${NAV.map(
            ([route, label]) =>
              html`<li><a href=${`#/${route}`} aria-current=${page === route ? 'page' : undefined}>${label}</a></li>`,
          )}
        </ul>
      </nav>
      <span class="who">${state.account ? state.account.email : ''}</span>
      <button type="button" onClick=${() => actions.signOut()}>Sign out</button>
    </header>
    <main>
      ${state.notice &&
      html`<div id="notice" class="notice" role="status">
        <p>${state.notice}</p>
        <button type="button" onClick=${actions.dismiss}>Done</button>
      </div>`}
      ${route(page, id, state, actions)}
    </main>
  `;
}

/**
 * @param {string} page
 * @param {string | undefined} id
 * @param {AccountState} state
 * @param {AccountActions} actions
 */
function route(page, id, state, actions) {
  switch (page) {
    case 'security':
      return html`<${SecurityPage} state=${state} actions=${actions} />`;
    case 'organisation':
      return html`<${OrganisationPage} state=${state} actions=${actions} />`;
    case 'conferences':
      return id
        ? html`<${ConferencePage} id=${id} state=${state} actions=${actions} />`
        : html`<${ConferencesPage} state=${state} actions=${actions} />`;
    case 'reports':
      return id ? html`<${ReportPage} id=${id} actions=${actions} />` : html`<${ReportsPage} actions=${actions} />`;
    case 'contacts':
      return html`<${ContactsPage} actions=${actions} />`;
    case 'keys':
      return html`<${KeysPage} actions=${actions} />`;
    case 'webhooks':
      return html`<${WebhooksPage} actions=${actions} />`;
    default:
      return html`<${LinePage} state=${state} actions=${actions} />`;
  }
}

/** @param {{state: AccountState, actions: AccountActions}} props */
function SignIn({ state, actions }) {
  /** @param {SubmitEvent} e */
  const signIn = (e) => {
    const f = fields(e);
    actions.signIn(f.email, f.password);
  };
  /** @param {SubmitEvent} e */
  const signUp = (e) => {
    const f = fields(e);
    actions.signUp(f.email, f.password, f.display_name);
  };
  return html`
    <main>
      <h1>Your Conclave account</h1>
      ${state.farewell && html`<${Farewell} text=${state.farewell} />`}
      <p class="hint">Or <a href="/">join a conference</a> with its access code.</p>
      <p id="account_error" role="alert">${state.error}</p>
      <div class="columns">
        <form id="sign_in" class="card" onSubmit=${signIn} aria-labelledby="sign_in_heading">
          <h2 id="sign_in_heading">Sign in</h2>
          <label>E-mail <input name="email" type="email" autocomplete="username" required /></label>
          <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
          <button type="submit">Sign in</button>
        </form>
        <form id="sign_up" class="card" onSubmit=${signUp} aria-labelledby="sign_up_heading">
          <h2 id="sign_up_heading">Create an account</h2>
          <label>Your name <input name="display_name" autocomplete="name" required maxlength="100" /></label>
          <label>E-mail <input name="email" type="email" autocomplete="username" required /></label>
          <label>Password <input name="password" type="password" autocomplete="new-password" required minlength="10"
            aria-describedby="password_hint" /></label>
          <p id="password_hint" class="hint">At least 10 characters.</p>
          <button type="submit">Create the account</button>
        </form>
      </div>
    </main>
  `;
}

/**
 * Said once the account is deleted. The button that deleted it is gone, so
 * the focus moves here, where a screen reader reads it out.
 * @param {{text: string}} props
 */
function Farewell({ text }) {
  const ref = useRef(/** @type {HTMLParagraphElement | null} */ (null));
  useEffect(() => ref.current?.focus(), []);
  return html`<p id="account_farewell" class="notice" role="status" tabindex="-1" ref=${ref}>${text}</p>`;
}

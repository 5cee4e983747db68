// The account's organisation (docs/organisations.md): its name and the
// account's role; for an admin, the members with their roles, invitations
// by e-mail and their revocation; for everyone, the invitations to their
// own address, to accept, and leaving an organisation that is not their own.
import { html } from '../views/html.js';
import { useState } from '../../vendor/hooks.module.js';
import * as api from '../api.js';
import { fields, useLoad, when } from './load.js';

/** @typedef {import('./auth.js').AccountState} AccountState */
/** @typedef {import('./auth.js').AccountActions} AccountActions */
/** @typedef {{account: string, email: string, display_name: string, role: string}} Member */
/** @typedef {{id: string, organisation_name: string, email: string, invited_by: string | null, created_at: string}} Invitation */

/** @param {{state: AccountState, actions: AccountActions}} props */
export function OrganisationPage({ state, actions }) {
  const org = useLoad(() => actions.ask(api.organisation), [state.token]);
  const mine = useLoad(() => actions.ask(api.myInvitations), [state.token]);
  const admin = org.data && org.data.role === 'admin';
  // Read again after each load of the organisation, with the role it
  // answered: a role that just changed must not ask for what it no longer
  // may read.
  const members = useLoad(() => (admin ? actions.ask(api.organisationMembers) : Promise.resolve([])), [org.data]);
  const invited = useLoad(() => (admin ? actions.ask(api.organisationInvitations) : Promise.resolve([])), [org.data]);
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  const me = state.account ? state.account.id : '';

  /** @param {() => Promise<string>} step */
  async function run(step) {
    try {
      setMessage(await step());
      setError('');
    } catch (e) {
      setMessage('');
      setError(String(e instanceof Error ? e.message : e));
    }
    org.reload();
    mine.reload();
  }
  /** @param {SubmitEvent} e */
  const rename = (e) => {
    const name = fields(e).name.trim();
    run(async () => {
      await actions.ask((t) => api.renameOrganisation(t, name));
      return `The organisation is now called ${name}.`;
    });
  };
  /** @param {SubmitEvent} e */
  const invite = (e) => {
    const email = fields(e).email.trim();
    /** @type {HTMLFormElement} */ (e.currentTarget).reset();
    run(async () => {
      await actions.ask((t) => api.invite(t, email));
      return `${email} is invited. Tell them to sign in and accept it on this page.`;
    });
  };

  const o = org.data;
  const name = o ? o.name || 'Your own organisation (not named yet)' : '';
  /** @type {Member[]} */
  const list = members.data || [];
  /** @type {Invitation[]} */
  const open = invited.data || [];
  /** @type {Invitation[]} */
  const toMe = mine.data || [];
  return html`
    <h1>Organisation</h1>
    <p id="organisation_rule">
      The admins of an organisation read every member's reports and can delete their meeting summaries and recordings.
      Members see only their own.
    </p>
    <p role="status" id="organisation_state">${message}</p>
    <p role="alert">${error || org.error}</p>
    ${o &&
    html`<section class="card" aria-labelledby="organisation_heading">
      <h2 id="organisation_heading">${name}</h2>
      <p id="organisation_role">You are ${o.role === 'admin' ? 'an admin' : 'a member'} of ${o.own ? 'your own organisation' : 'this organisation'}.</p>
      ${admin &&
      html`<form id="organisation_name_form" class="inline" onSubmit=${rename}>
        <label for="organisation_name">Organisation name</label>
        <input id="organisation_name" name="name" required maxlength="100" autocomplete="organization" value=${o.name} />
        <button type="submit">Save the name</button>
      </form>`}
      ${!o.own &&
      html`<button type="button" class="danger" onClick=${() =>
        run(async () => {
          await actions.ask((t) => api.removeMember(t, me));
          return 'You left the organisation: you are back in your own.';
        })}>Leave the organisation</button>`}
    </section>`}
    ${toMe.length > 0 &&
    html`<section class="card" aria-labelledby="my_invitations_heading">
      <h2 id="my_invitations_heading">Invitations to you</h2>
      <ul id="my_invitations">
        ${toMe.map(
          (i) => html`<li key=${i.id}>
            ${i.organisation_name || 'An organisation'}${i.invited_by ? `, from ${i.invited_by}` : ''}, ${when(i.created_at)}
            <button type="button" class="primary" aria-label=${`Accept the invitation to ${i.organisation_name || 'the organisation'}`}
              onClick=${() =>
                run(async () => {
                  await actions.ask((t) => api.acceptInvitation(t, i.id));
                  return `You are now a member of ${i.organisation_name || 'the organisation'}. Its admins can read your reports.`;
                })}>Accept</button>
          </li>`,
        )}
      </ul>
    </section>`}
    ${admin &&
    html`<section class="card" aria-labelledby="members_heading">
      <h2 id="members_heading">Members</h2>
      <div class="scroll"><table id="members">
        <thead><tr><th scope="col">Name</th><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody>
          ${list.map(
            (m) => html`<tr key=${m.account}>
              <th scope="row">${m.display_name}</th>
              <td>${m.email}</td>
              <td>${m.role === 'admin' ? 'Admin' : 'Member'}</td>
              <td>
                <button type="button" aria-label=${`${m.role === 'admin' ? 'Make member' : 'Make admin'}: ${m.display_name}`}
                  onClick=${() =>
                    run(async () => {
                      const role = m.role === 'admin' ? 'member' : 'admin';
                      await actions.ask((t) => api.setMemberRole(t, m.account, role));
                      return `${m.display_name} is now ${role === 'admin' ? 'an admin' : 'a member'}.`;
                    })}>${m.role === 'admin' ? 'Make member' : 'Make admin'}</button>
                ${m.account !== me &&
                html`<button type="button" class="danger" aria-label=${`Remove ${m.display_name}`}
                  onClick=${() =>
                    run(async () => {
                      await actions.ask((t) => api.removeMember(t, m.account));
                      return `${m.display_name} is no longer a member.`;
                    })}>Remove</button>`}
              </td>
            </tr>`,
          )}
        </tbody>
      </table></div>
      <form id="invite_form" class="inline" onSubmit=${invite}>
        <label for="invite_email">Invite by e-mail</label>
        <input id="invite_email" name="email" type="email" required autocomplete="off" aria-describedby="invite_hint" />
        <button type="submit" class="primary">Send the invitation</button>
        <p id="invite_hint" class="hint">They accept it on this page once signed in with that address.</p>
      </form>
      ${open.length > 0 &&
      html`<h3>Open invitations</h3>
        <ul id="open_invitations">
          ${open.map(
            (i) => html`<li key=${i.id}>${i.email}, ${when(i.created_at)}
              <button type="button" aria-label=${`Revoke the invitation to ${i.email}`} onClick=${() =>
                run(async () => {
                  await actions.ask((t) => api.revokeInvitation(t, i.id));
                  return `The invitation to ${i.email} is revoked.`;
                })}>Revoke</button></li>`,
          )}
        </ul>`}
    </section>`}
  `;
}

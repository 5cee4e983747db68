//! Organisations, their members and invitations (docs/organisations.md).
//! Every account belongs to one; its own has the account's id. The store
//! keeps the rule that an organisation with members keeps an admin: no
//! change leaves one with members and none.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use conclave_actors::AccountId;
use uuid::Uuid;

use super::StoreResult;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganisationRow {
    pub id: Uuid,
    /// Empty until an admin names it.
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub account: AccountId,
    pub email: String,
    pub display_name: String,
    pub role: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationRow {
    pub id: Uuid,
    pub organisation: Uuid,
    /// The organisation's name, for the invitee.
    pub organisation_name: String,
    pub email: String,
    /// Who invited, by name (`None` once their account is gone).
    pub invited_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[async_trait]
pub trait Organisations: Send + Sync + 'static {
    async fn organisation(&self, id: Uuid) -> StoreResult<OrganisationRow>;
    async fn rename_organisation(&self, id: Uuid, name: &str) -> StoreResult<()>;
    /// Its members, admins first, then by name.
    async fn members(&self, organisation: Uuid) -> StoreResult<Vec<MemberRow>>;
    /// Invites an e-mail address (lower-cased); inviting it again answers
    /// the invitation already open.
    async fn invite(
        &self,
        organisation: Uuid,
        email: &str,
        by: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<InvitationRow>;
    async fn invitations(&self, organisation: Uuid) -> StoreResult<Vec<InvitationRow>>;
    /// `NotFound` if the organisation has no such invitation.
    async fn revoke_invitation(&self, organisation: Uuid, id: Uuid) -> StoreResult<()>;
    /// The open invitations to an e-mail address.
    async fn invitations_to(&self, email: &str) -> StoreResult<Vec<InvitationRow>>;
    /// The account (whose e-mail the invitation names) joins its
    /// organisation as a member. `NotFound` for an invitation to someone
    /// else; `Conflict` when leaving would leave its organisation with
    /// members and no admin.
    async fn accept_invitation(&self, id: Uuid, account: AccountId) -> StoreResult<()>;
    /// `admin` or `member`. `NotFound` if not a member; `Conflict` if it
    /// would leave no admin.
    async fn set_member_role(
        &self,
        organisation: Uuid,
        account: AccountId,
        role: &str,
    ) -> StoreResult<()>;
    /// The member goes back to its own organisation, as its admin.
    /// `NotFound` if not a member, or if it is its own; `Conflict` if it
    /// would leave no admin.
    async fn remove_member(&self, organisation: Uuid, account: AccountId) -> StoreResult<()>;
}

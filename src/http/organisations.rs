//! The account's organisation (docs/organisations.md): its name, its
//! members and their roles, invitations by e-mail. What only an admin may
//! do is answered `not_found` to a member, as for something that does not
//! exist.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use conclave_actors::AccountId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Authed;
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::store::organisations::{InvitationRow, MemberRow};
use crate::store::Account;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/organisation")
            .route(web::get().to(get))
            .route(web::put().to(rename)),
    )
    .service(web::resource("/organisation/members").route(web::get().to(members)))
    .service(
        web::resource("/organisation/members/{account}")
            .route(web::put().to(set_role))
            .route(web::delete().to(remove)),
    )
    .service(
        web::resource("/organisation/invitations")
            .route(web::get().to(invitations))
            .route(web::post().to(invite)),
    )
    .service(web::resource("/organisation/invitations/{id}").route(web::delete().to(revoke)))
    .service(web::resource("/account/invitations").route(web::get().to(mine)))
    .service(web::resource("/account/invitations/{id}/accept").route(web::post().to(accept)));
}

#[derive(Serialize, ToSchema)]
pub struct OrganisationView {
    id: uuid::Uuid,
    /// Empty until an admin names it.
    name: String,
    /// The account's role: `admin` or `member`.
    role: String,
    /// Whether it is the account's own (made with it).
    own: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    account: uuid::Uuid,
    email: String,
    display_name: String,
    role: String,
}

impl From<MemberRow> for MemberView {
    fn from(m: MemberRow) -> Self {
        Self {
            account: m.account.0,
            email: m.email,
            display_name: m.display_name,
            role: m.role,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    id: uuid::Uuid,
    organisation: uuid::Uuid,
    organisation_name: String,
    email: String,
    /// Who invited, by name; `null` once their account is gone.
    invited_by: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<InvitationRow> for InvitationView {
    fn from(i: InvitationRow) -> Self {
        Self {
            id: i.id,
            organisation: i.organisation,
            organisation_name: i.organisation_name,
            email: i.email,
            invited_by: i.invited_by,
            created_at: i.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct NameBody {
    /// 1 to 100 characters.
    name: String,
}

#[derive(Deserialize, ToSchema)]
pub struct InviteBody {
    email: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RoleBody {
    /// `admin` or `member`.
    role: String,
}

/// The organisation's id, for an admin of it; `NotFound` for a member.
pub(super) fn administered(account: &Account) -> Result<uuid::Uuid, AppError> {
    if account.is_admin() {
        Ok(account.organisation)
    } else {
        Err(AppError::NotFound)
    }
}

/// The account's organisation and its role in it.
#[utoipa::path(get, path = "/api/v1/organisation", tag = "organisations", security(("bearer" = [])), responses(
    (status = 200, body = OrganisationView),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn get(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    let a = &authed.account;
    let org = services.store.organisation(a.organisation).await?;
    Ok(HttpResponse::Ok().json(OrganisationView {
        id: org.id,
        name: org.name,
        role: a.organisation_role.clone(),
        own: org.id == a.id.0,
    }))
}

/// Names the organisation (admins).
#[utoipa::path(put, path = "/api/v1/organisation", tag = "organisations", security(("bearer" = [])),
    request_body = NameBody, responses(
    (status = 204),
    (status = 404, description = "`not_found`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field`: `name`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn rename(
    services: web::Data<Services>,
    authed: Authed,
    body: web::Json<NameBody>,
) -> Result<HttpResponse, AppError> {
    let org = administered(&authed.account)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name",
            "1 to 100 characters, no control characters",
        ));
    }
    services.store.rename_organisation(org, name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The members, admins first (admins).
#[utoipa::path(get, path = "/api/v1/organisation/members", tag = "organisations", security(("bearer" = [])), responses(
    (status = 200, body = [MemberView]),
    (status = 404, description = "`not_found`: not an admin", body = Problem, content_type = "application/problem+json"),
))]
pub async fn members(
    services: web::Data<Services>,
    authed: Authed,
) -> Result<HttpResponse, AppError> {
    let org = administered(&authed.account)?;
    let list: Vec<MemberView> = services
        .store
        .members(org)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Makes a member an admin, or an admin a member (admins).
#[utoipa::path(put, path = "/api/v1/organisation/members/{account}", tag = "organisations", security(("bearer" = [])),
    params(("account" = uuid::Uuid, Path)), request_body = RoleBody, responses(
    (status = 204),
    (status = 404, description = "`not_found`: not an admin, or no such member", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`last_admin`: the organisation would have no admin", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field`: `role`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn set_role(
    services: web::Data<Services>,
    authed: Authed,
    path: web::Path<uuid::Uuid>,
    body: web::Json<RoleBody>,
) -> Result<HttpResponse, AppError> {
    let org = administered(&authed.account)?;
    if !matches!(body.role.as_str(), "admin" | "member") {
        return Err(AppError::invalid("role", "admin or member"));
    }
    let member = AccountId(path.into_inner());
    services
        .store
        .set_member_role(org, member, &body.role)
        .await?;
    tracing::info!(organisation = %org, %member, role = %body.role, "member's role changed");
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a member (admins), or leaves (anyone, for themselves): they go
/// back to their own organisation.
#[utoipa::path(delete, path = "/api/v1/organisation/members/{account}", tag = "organisations", security(("bearer" = [])),
    params(("account" = uuid::Uuid, Path)), responses(
    (status = 204),
    (status = 404, description = "`not_found`: not an admin (and not leaving), no such member, or the account's own organisation", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`last_admin`: the organisation would have no admin", body = Problem, content_type = "application/problem+json"),
))]
pub async fn remove(
    services: web::Data<Services>,
    authed: Authed,
    path: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, AppError> {
    let member = AccountId(path.into_inner());
    let a = &authed.account;
    let org = if member == a.id {
        a.organisation
    } else {
        administered(a)?
    };
    services.store.remove_member(org, member).await?;
    tracing::info!(organisation = %org, %member, "member left the organisation");
    Ok(HttpResponse::NoContent().finish())
}

/// The open invitations (admins).
#[utoipa::path(get, path = "/api/v1/organisation/invitations", tag = "organisations", security(("bearer" = [])), responses(
    (status = 200, body = [InvitationView]),
    (status = 404, description = "`not_found`: not an admin", body = Problem, content_type = "application/problem+json"),
))]
pub async fn invitations(
    services: web::Data<Services>,
    authed: Authed,
) -> Result<HttpResponse, AppError> {
    let org = administered(&authed.account)?;
    let list: Vec<InvitationView> = services
        .store
        .invitations(org)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Invites an e-mail address (admins). Its account, once signed in with
/// it, sees the invitation and may accept it; the answer never says
/// whether such an account exists.
#[utoipa::path(post, path = "/api/v1/organisation/invitations", tag = "organisations", security(("bearer" = [])),
    request_body = InviteBody, responses(
    (status = 201, body = InvitationView),
    (status = 404, description = "`not_found`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field`: `email`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn invite(
    services: web::Data<Services>,
    authed: Authed,
    body: web::Json<InviteBody>,
) -> Result<HttpResponse, AppError> {
    let org = administered(&authed.account)?;
    let email = crate::validate::email(&body.email)?;
    let now = services.clock.now();
    let row = services
        .store
        .invite(org, &email, authed.account.id, now)
        .await?;
    tracing::info!(organisation = %org, invitation = %row.id, "invitation sent");
    Ok(HttpResponse::Created().json(InvitationView::from(row)))
}

/// Revokes an open invitation (admins).
#[utoipa::path(delete, path = "/api/v1/organisation/invitations/{id}", tag = "organisations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 204),
    (status = 404, description = "`not_found`: not an admin, or no such invitation", body = Problem, content_type = "application/problem+json"),
))]
pub async fn revoke(
    services: web::Data<Services>,
    authed: Authed,
    path: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, AppError> {
    let org = administered(&authed.account)?;
    services
        .store
        .revoke_invitation(org, path.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The invitations to the account's e-mail address.
#[utoipa::path(get, path = "/api/v1/account/invitations", tag = "organisations", security(("bearer" = [])), responses(
    (status = 200, body = [InvitationView]),
))]
pub async fn mine(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    let list: Vec<InvitationView> = services
        .store
        .invitations_to(&authed.account.email)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// Accepts an invitation to the account's e-mail address: the account
/// becomes a member of that organisation, whose admins then read its
/// reports.
#[utoipa::path(post, path = "/api/v1/account/invitations/{id}/accept", tag = "organisations", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path)), responses(
    (status = 204),
    (status = 404, description = "`not_found`: no such invitation to this account", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`last_admin`: the organisation it leaves would have members and no admin", body = Problem, content_type = "application/problem+json"),
))]
pub async fn accept(
    services: web::Data<Services>,
    authed: Authed,
    path: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    services
        .store
        .accept_invitation(id, authed.account.id)
        .await?;
    tracing::info!(account = %authed.account.id, invitation = %id, "invitation accepted");
    Ok(HttpResponse::NoContent().finish())
}

//! The account's address book: the callers its moderators named (saved by
//! `name_caller`, recognised when the number calls again), listed, renamed
//! and deleted by the account holder. A contact's id is the keyed hash of
//! its number, so the number itself never appears in a URL or a log; it is
//! opened here, for the owner alone, and stays sealed at rest.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Authed;
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::store::ContactRow;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/account/contacts").route(web::get().to(list)))
        .service(
            web::resource("/account/contacts/{id}")
                .route(web::put().to(rename))
                .route(web::delete().to(delete)),
        );
}

/// One named caller.
#[derive(Serialize, ToSchema)]
pub struct ContactView {
    /// Opaque and stable (64 hex characters); the same number keeps it.
    #[schema(example = "3f9c0b5e2a7d4c1f8e6b9a0d3c2f1e4b5a6978c0d1e2f3a4b5c6d7e8f9a0b1c2")]
    id: String,
    #[schema(example = "Grace Hopper")]
    name: String,
    /// The caller's number in full; `null` only if it cannot be opened
    /// (the server's encryption key changed).
    #[schema(example = "+441234567123")]
    number: Option<String>,
    /// When the name was last given (by a moderator or a rename).
    updated_at: DateTime<Utc>,
}

impl ContactView {
    pub(super) fn new(services: &Services, row: ContactRow) -> Self {
        Self {
            number: crate::crypto::open(&services.secrets.encryption_key, &row.number_sealed)
                .and_then(|n| String::from_utf8(n).ok()),
            id: row.number_index,
            name: crate::summary_keys::open_or_clear(&services.secrets.encryption_key, row.name),
            updated_at: DateTime::from_timestamp_millis(row.updated_at).unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// As a participant's name: 1 to 100 characters, trimmed, no control
    /// characters, bidirectional controls removed.
    #[schema(example = "Grace Hopper")]
    name: String,
}

/// A contact id as the address book makes them: a hex HMAC-SHA256. Anything
/// else cannot exist, and is answered as missing without asking the store.
fn contact_id(raw: &str) -> Result<&str, AppError> {
    let ok = raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some(raw).ok_or(AppError::NotFound)
}

/// The account's contacts, by name.
#[utoipa::path(get, path = "/api/v1/account/contacts", tag = "contacts", security(("bearer" = [])), responses(
    (status = 200, body = [ContactView]),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn list(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    let rows = services.store.contacts(authed.account.id).await?;
    let views: Vec<_> = rows
        .into_iter()
        .map(|r| ContactView::new(&services, r))
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Renames a contact: the next call from its number shows the new name.
#[utoipa::path(put, path = "/api/v1/account/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Contact id")), request_body = RenameRequest, responses(
    (status = 200, body = ContactView),
    (status = 404, description = "`not_found` (also for another account's contact)", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field` (`name`)", body = Problem, content_type = "application/problem+json"),
))]
pub async fn rename(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<String>,
    body: web::Json<RenameRequest>,
) -> Result<HttpResponse, AppError> {
    let id = contact_id(&id)?;
    let max = conclave_actors::room_state::RoomSettings::default().max_name_chars;
    let name = crate::validate::text("name", &body.name, max)?;
    let at = services.clock.now().timestamp_millis();
    let sealed = crate::summary_keys::seal_text(&services.secrets.encryption_key, &name);
    let row = services
        .store
        .rename_contact(authed.account.id, id, &sealed, at)
        .await?;
    tracing::info!(account = %authed.account.id, "contact renamed");
    Ok(HttpResponse::Ok().json(ContactView::new(&services, row)))
}

/// Deletes a contact: its number shows masked again when it next calls.
#[utoipa::path(delete, path = "/api/v1/account/contacts/{id}", tag = "contacts", security(("bearer" = [])),
    params(("id" = String, Path, description = "Contact id")), responses(
    (status = 204, description = "Deleted"),
    (status = 404, description = "`not_found` (also for another account's contact, or one already deleted)", body = Problem, content_type = "application/problem+json"),
))]
pub async fn delete(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = contact_id(&id)?;
    services.store.delete_contact(authed.account.id, id).await?;
    tracing::info!(account = %authed.account.id, "contact deleted");
    Ok(HttpResponse::NoContent().finish())
}

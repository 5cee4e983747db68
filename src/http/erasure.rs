//! Deleting an account (docs/privacy.md): the owner confirms with the
//! password, and everything the account holds goes, in this order: its
//! live rooms are closed (everyone in them is told `room_closed`), the
//! history still queued for the database is written, the files of its
//! conferences (documents, recordings) are deleted, then every row in one
//! transaction. Sessions and API keys are rows: they stop working at once,
//! and the e-mail address is free again. The answer comes when it is done.

use actix_web::{web, HttpRequest, HttpResponse};
use conclave_actors::registry::FindRoom;
use conclave_actors::room::Close;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Authed;
use crate::error::{AppError, Problem};
use crate::rooms::Rooms;
use crate::services::Services;

/// How long a deletion waits for queued history to be written.
const FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    /// The account's password, asked again.
    password: String,
}

/// Deletes the account and everything it holds.
#[utoipa::path(delete, path = "/api/v1/account", tag = "accounts", security(("bearer" = [])),
    request_body = DeleteAccount, responses(
    (status = 204, description = "deleted: the token no longer works"),
    (status = 401, description = "`invalid_credentials` (wrong password) or `unauthorized`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`throttled`", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`unavailable`: history could not be written first; nothing was deleted", body = Problem, content_type = "application/problem+json"),
))]
pub async fn delete_account(
    req: HttpRequest,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    authed: Authed,
    body: web::Json<DeleteAccount>,
) -> Result<HttpResponse, AppError> {
    let account = &authed.account;
    services
        .confirm_password(account, &body.password, &super::auth::client_address(&req))
        .await?;
    let conferences = services.store.conferences(account.id).await?;
    for conference in &conferences {
        let live = rooms
            .registry
            .send(FindRoom {
                conference: conference.id,
            })
            .await
            .map_err(|_| AppError::Unavailable)?;
        if let Some(room) = live {
            let _ = room.send(Close).await;
        }
    }
    let persistence = &rooms.persistence;
    if !persistence
        .committed(persistence.handed_over(), FLUSH_WAIT)
        .await
    {
        return Err(AppError::Unavailable);
    }
    // Files first: a failure here leaves the rows, so a repeated request
    // finishes the job; rows without their files are never left behind.
    for conference in &conferences {
        for dir in [
            rooms.files.folder(conference.id),
            rooms.recordings.join(conference.id.to_string()),
        ] {
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(conference = %conference.id, error = %e, "cannot delete a deleted account's files");
                    return Err(AppError::Internal);
                }
            }
        }
    }
    services.store.delete_account(account.id).await?;
    // Codes kept for outages may name its conferences.
    services.last_known.forget_all();
    tracing::info!(account = %account.id, conferences = conferences.len(), "account deleted");
    Ok(HttpResponse::NoContent().finish())
}

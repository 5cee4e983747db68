//! Deleting a conference's summary: everything its past sessions left
//! behind (attendance, audit log, chat, shared documents and recordings,
//! bytes included) goes at once, for its owner. The conference itself, its
//! codes and its room state (lock, permissions, blocks) stay: they are the
//! line's settings, not its history.
//!
//! A meeting in progress is refused (`conference_live`): a live room keeps
//! writing its session, and deleting under it would leave half a summary.
//! Everything the rooms handed to the persister is committed first, so no
//! row of a past session arrives after the delete.

use std::collections::HashSet;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use conclave_actors::registry::FindRoom;
use conclave_actors::ConferenceId;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Authed;
use super::recordings::{folder, parse_id};
use crate::error::AppError;
use crate::rooms::Rooms;
use crate::services::Services;
use crate::store::Page;

/// How long the delete waits for history still being written.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/conferences/{id}/history").route(web::delete().to(delete)));
}

/// What the delete removed.
#[derive(Serialize, ToSchema)]
pub struct DeletedView {
    pub sessions: usize,
    pub documents: usize,
    pub recordings: usize,
}

/// Deletes the conference's summary: every past session with its
/// attendance, audit log, chat, documents and recordings, bytes included.
#[utoipa::path(delete, path = "/api/v1/conferences/{id}/history", tag = "history", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id")), responses(
    (status = 200, description = "Deleted; repeating the call deletes nothing more", body = DeletedView),
    (status = 404, description = "`not_found` (also for someone else's conference)", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, description = "`conference_live`: a meeting is in progress; end it first", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 503, description = "`unavailable`: the store cannot be reached, or history is still being written; nothing was deleted", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn delete(
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    authed: Authed,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, AppError> {
    let conference = services
        .reported_conference(&authed.account, ConferenceId(id.into_inner()))
        .await?
        .id;
    let live = rooms
        .registry
        .send(FindRoom { conference })
        .await
        .map_err(|_| AppError::Unavailable)?;
    if live.is_some() {
        return Err(AppError::Http {
            status: StatusCode::CONFLICT,
            code: "conference_live",
            title: "a meeting is in progress in this conference; end it first".into(),
        });
    }
    // Sessions that started from now on are a new meeting's, never touched.
    let before = services.clock.now().timestamp_millis() + 1;
    let persistence = &rooms.persistence;
    if !persistence
        .committed(persistence.handed_over(), FLUSH_WAIT)
        .await
    {
        return Err(AppError::Unavailable);
    }
    Ok(HttpResponse::Ok()
        .json(delete_summaries(&services, &rooms, conference, before, before - 1).await?))
}

/// Deletes every session of the conference that started before `before`,
/// with all it holds, bytes included (also for the retention job, which
/// picks `before` so that only sessions ended long ago go). `at` is when,
/// for the webhook event and the audit chain.
pub(crate) async fn delete_summaries(
    services: &Services,
    rooms: &Rooms,
    conference: ConferenceId,
    before: conclave_actors::room_state::Millis,
    at: conclave_actors::room_state::Millis,
) -> Result<DeletedView, AppError> {
    let told = crate::webhooks::events::summary_deleted(conference.0, before, at);
    let deleted = services
        .store
        .delete_history(conference, before, at, &[told])
        .await?;

    // The rows go first, so nothing lists bytes about to vanish. Recording
    // folders are then swept against the sessions that remain, so a call
    // repeated after a failure still finds them; a document's bytes are
    // found from its deleted row, and one that cannot be removed is logged
    // by id for the operator.
    for document in &deleted.documents {
        let path = rooms
            .files
            .path(conference, conclave_actors::DocumentId(*document));
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(%conference, %document, error = %e, "cannot delete a document's bytes");
                return Err(AppError::Internal);
            }
        }
    }
    let recordings = sweep_recordings(services, rooms, conference).await?;
    if !deleted.sessions.is_empty() || recordings > 0 {
        tracing::info!(
            %conference,
            sessions = deleted.sessions.len(),
            documents = deleted.documents.len(),
            recordings,
            "conference history deleted"
        );
    }
    Ok(DeletedView {
        sessions: deleted.sessions.len(),
        documents: deleted.documents.len(),
        recordings,
    })
}

/// Removes the conference's recording folders whose session is gone from
/// the store (deleted here, or by another server sharing the database);
/// answers how many. The caller makes sure no meeting is live.
pub(crate) async fn sweep_recordings(
    services: &Services,
    rooms: &Rooms,
    conference: ConferenceId,
) -> Result<usize, AppError> {
    match tokio::fs::read_dir(folder(rooms, conference)).await {
        Ok(mut entries) => {
            if entries.next_entry().await.ok().flatten().is_none() {
                return Ok(0);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(_) => return Err(AppError::Internal),
    }
    let kept: HashSet<uuid::Uuid> = services
        .store
        .conference_sessions(conference, Page::ALL)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    delete_recordings(rooms, conference, &kept).await
}

/// Removes the conference's recording folders of every session not in
/// `kept`; how many it removed.
async fn delete_recordings(
    rooms: &Rooms,
    conference: ConferenceId,
    kept: &HashSet<uuid::Uuid>,
) -> Result<usize, AppError> {
    let mut entries = match tokio::fs::read_dir(folder(rooms, conference)).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(_) => return Err(AppError::Internal),
    };
    let mut removed = 0;
    while let Some(entry) = entries.next_entry().await.map_err(|_| AppError::Internal)? {
        let name = entry.file_name();
        let Some((session, _)) = name.to_str().and_then(parse_id) else {
            continue;
        };
        if !kept.contains(&session) {
            if let Err(e) = tokio::fs::remove_dir_all(entry.path()).await {
                tracing::error!(%conference, %session, error = %e, "cannot delete a recording");
                return Err(AppError::Internal);
            }
            removed += 1;
        }
    }
    Ok(removed)
}

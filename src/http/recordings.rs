//! A conference's recordings, for its owner: list them, download a file,
//! delete a file or a whole recording. A recording is the folder the media
//! plane wrote (`<data_dir>/recordings/<conference>/<session>-<ms>/`); its
//! `manifest.json`, written when the recording stopped, is the list of what
//! may be served. A recording still running has no manifest and is not
//! shown. Names from the URL are only ever matched against that list, never
//! joined to a path as given.

use std::path::{Path, PathBuf};

use actix_web::{http::header, web, HttpResponse};
use chrono::{DateTime, Utc};
use conclave_actors::ConferenceId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Authed;
use crate::error::AppError;
use crate::rooms::Rooms;
use crate::services::Services;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/conferences/{id}/recordings").route(web::get().to(list)))
        .service(
            web::resource("/conferences/{id}/recordings/{recording}")
                .route(web::delete().to(delete_recording)),
        )
        .service(
            web::resource("/conferences/{id}/recordings/{recording}/{file}")
                .route(web::get().to(download))
                .route(web::delete().to(delete_file)),
        );
}

/// One recording: every track forwarded while it ran.
#[derive(Serialize, ToSchema)]
pub struct RecordingView {
    /// `<session>-<started ms>`, the recording's id in the URLs below.
    id: String,
    session: uuid::Uuid,
    started_at: DateTime<Utc>,
    files: Vec<RecordingFileView>,
}

/// One file: an Ogg/Opus audio track or an IVF/VP8 video track.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct RecordingFileView {
    file: String,
    participant: uuid::Uuid,
    /// `microphone`, `camera` or `screen`.
    source: String,
    /// `opus` or `vp8`.
    codec: String,
    packets: u64,
    bytes: u64,
    duration_ms: u64,
    started_at_ms: i64,
    ended_at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    tracks: Vec<RecordingFileView>,
    /// Kept when a file is deleted and the manifest rewritten.
    #[serde(default)]
    dropped_packets: u64,
}

/// `<uuid>-<digits>`: what the media plane names a recording folder.
pub(super) fn parse_id(id: &str) -> Option<(uuid::Uuid, i64)> {
    let (session, started) = id.rsplit_once('-')?;
    if started.is_empty() || !started.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((uuid::Uuid::parse_str(session).ok()?, started.parse().ok()?))
}

pub(super) fn folder(rooms: &Rooms, conference: ConferenceId) -> PathBuf {
    rooms.recordings.join(conference.to_string())
}

async fn manifest(dir: &Path) -> Option<Manifest> {
    let text = tokio::fs::read(dir.join("manifest.json")).await.ok()?;
    serde_json::from_slice(&text).ok()
}

/// The finished recording `id` of `conference`, by a name checked against
/// the folder's own listing.
async fn recording(
    rooms: &Rooms,
    conference: ConferenceId,
    id: &str,
) -> Result<(PathBuf, Manifest), AppError> {
    parse_id(id).ok_or(AppError::NotFound)?;
    let dir = folder(rooms, conference).join(id);
    let manifest = manifest(&dir).await.ok_or(AppError::NotFound)?;
    Ok((dir, manifest))
}

/// The account's finished recording `rec` of conference `id`.
async fn owned_recording(
    services: &Services,
    rooms: &Rooms,
    authed: &Authed,
    id: uuid::Uuid,
    rec: &str,
) -> Result<(crate::store::Conference, PathBuf, Manifest), AppError> {
    let conference = services
        .reported_conference(&authed.account, ConferenceId(id))
        .await?;
    let (dir, manifest) = recording(rooms, conference.id, rec).await?;
    Ok((conference, dir, manifest))
}

/// Where `file` is in the manifest: only names it lists are ever served.
fn listed(manifest: &Manifest, file: &str) -> Result<usize, AppError> {
    manifest
        .tracks
        .iter()
        .position(|t| t.file == file)
        .ok_or(AppError::NotFound)
}

/// The conference's finished recordings, oldest first.
#[utoipa::path(get, path = "/api/v1/conferences/{id}/recordings", tag = "recordings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id")), responses(
    (status = 200, body = [RecordingView]),
    (status = 404, description = "`not_found` (also for someone else's conference)", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn list(
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    authed: Authed,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, AppError> {
    let conference = services
        .reported_conference(&authed.account, ConferenceId(id.into_inner()))
        .await?;
    let mut views = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(folder(&rooms, conference.id)).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((session, started)) = parse_id(&name) else {
                continue;
            };
            let Some(m) = manifest(&entry.path()).await else {
                continue;
            };
            views.push(RecordingView {
                id: name,
                session,
                started_at: DateTime::from_timestamp_millis(started).unwrap_or_default(),
                files: m.tracks,
            });
        }
    }
    views.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    Ok(HttpResponse::Ok().json(views))
}

/// One recording file, streamed as an attachment.
#[utoipa::path(get, path = "/api/v1/conferences/{id}/recordings/{recording}/{file}", tag = "recordings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id"), ("recording" = String, Path), ("file" = String, Path)), responses(
    (status = 200, description = "The file (`audio/ogg` or `video/x-ivf`), decrypted as it is sent"),
    (status = 206, description = "The byte range asked for with `Range: bytes=`"),
    (status = 416, description = "A range outside the file"),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn download(
    req: actix_web::HttpRequest,
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    authed: Authed,
    path: web::Path<(uuid::Uuid, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, rec, file) = path.into_inner();
    let (_, dir, manifest) = owned_recording(&services, &rooms, &authed, id, &rec).await?;
    let entry = &manifest.tracks[listed(&manifest, &file)?];
    let (session, _) = parse_id(&rec).ok_or(AppError::NotFound)?;
    let key = services.unsealer().file_key(session).await?;
    let place = dir.join(&entry.file);
    let source =
        web::block(move || super::file_body::Source::open(&place, key.map(|k| *k.expose())))
            .await
            .map_err(|_| AppError::Internal)?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => AppError::NotFound,
                _ => {
                    tracing::error!(error = %e, "a recording file does not open");
                    AppError::Internal
                }
            })?;
    let content_type = if entry.codec == "opus" {
        "audio/ogg"
    } else {
        "video/x-ivf"
    };
    let mut builder = HttpResponse::Ok();
    builder
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", entry.file),
        ))
        .insert_header(("x-content-type-options", "nosniff"));
    super::file_body::respond(&req, builder, source)
}

/// Deletes one file of a recording; the recording goes once it is empty.
#[utoipa::path(delete, path = "/api/v1/conferences/{id}/recordings/{recording}/{file}", tag = "recordings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id"), ("recording" = String, Path), ("file" = String, Path)), responses(
    (status = 204, description = "Deleted, bytes included"),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn delete_file(
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    authed: Authed,
    path: web::Path<(uuid::Uuid, String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, rec, file) = path.into_inner();
    let (conference, dir, mut manifest) =
        owned_recording(&services, &rooms, &authed, id, &rec).await?;
    let entry = manifest.tracks.remove(listed(&manifest, &file)?);
    if manifest.tracks.is_empty() {
        remove_dir(&dir).await?;
    } else {
        // The listing first (written whole, then renamed): a file it no
        // longer names is never served, even if deleting its bytes fails.
        let tmp = dir.join("manifest.json.tmp");
        let body = serde_json::to_vec_pretty(&manifest).map_err(|_| AppError::Internal)?;
        tokio::fs::write(&tmp, body)
            .await
            .map_err(|_| AppError::Internal)?;
        tokio::fs::rename(&tmp, dir.join("manifest.json"))
            .await
            .map_err(|_| AppError::Internal)?;
        tokio::fs::remove_file(dir.join(&entry.file))
            .await
            .map_err(|_| AppError::Internal)?;
    }
    let detail =
        serde_json::json!({"recordings": usize::from(manifest.tracks.is_empty()), "files": 1});
    services
        .chain(conference.account_id, "recording_deleted", detail)
        .await?;
    tracing::info!(conference = %conference.id, recording = %rec, "recording file deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a whole recording, bytes included.
#[utoipa::path(delete, path = "/api/v1/conferences/{id}/recordings/{recording}", tag = "recordings", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id"), ("recording" = String, Path)), responses(
    (status = 204, description = "Deleted, bytes included"),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn delete_recording(
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    authed: Authed,
    path: web::Path<(uuid::Uuid, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, rec) = path.into_inner();
    let (conference, dir, manifest) = owned_recording(&services, &rooms, &authed, id, &rec).await?;
    remove_dir(&dir).await?;
    let detail = serde_json::json!({"recordings": 1, "files": manifest.tracks.len()});
    services
        .chain(conference.account_id, "recording_deleted", detail)
        .await?;
    tracing::info!(conference = %conference.id, recording = %rec, "recording deleted");
    Ok(HttpResponse::NoContent().finish())
}

async fn remove_dir(dir: &Path) -> Result<(), AppError> {
    tokio::fs::remove_dir_all(dir)
        .await
        .map_err(|_| AppError::Internal)
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn only_the_media_planes_folder_names_are_recording_ids() {
        let s = "7b8d14b8-1aca-4b7d-9e0a-ff45dcf060e0";
        assert!(parse_id(&format!("{s}-1795874316000")).is_some());
        for bad in [
            "..".to_owned(),
            format!("{s}-"),
            format!("{s}-12a"),
            format!("../{s}-1"),
            format!("{s}-1/.."),
            "x-1".to_owned(),
        ] {
            assert!(parse_id(&bad).is_none(), "{bad}");
        }
    }
}

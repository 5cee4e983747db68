//! Documents shared in a live room, over HTTP: upload and download. Both
//! are authorised by the participant's seat: the `resume_token` its
//! `joined` answer carried, sent as `Authorization: Bearer <token>`. The
//! room decides every time (the seat must still be held; uploading needs
//! the `share` permission). Removal goes through the WebSocket
//! (`remove_document`), which deletes the bytes.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use conclave_actors::room::{Applied, Apply, Room};
use conclave_actors::room_state::{Command, Document, RoomError};
use conclave_actors::{ConferenceId, DocumentId, ParticipantId};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use utoipa::{IntoParams, ToSchema};

use conclave_media::sealed_file::AppendSealer;

use crate::documents::{clean_content_type, clean_filename};
use crate::error::AppError;
use crate::rooms::Rooms;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/room/documents").route(web::post().to(upload)))
        .service(web::resource("/room/documents/{id}").route(web::get().to(download)));
}

/// A shared document, as announced to the room.
#[derive(Serialize, ToSchema)]
pub struct DocumentView {
    id: uuid::Uuid,
    /// The uploaded file's name, cleaned (no path, no control characters).
    #[schema(example = "agenda.pdf")]
    name: String,
    #[schema(example = "application/pdf")]
    content_type: String,
    size: u64,
}

#[derive(Deserialize, IntoParams)]
pub struct UploadQuery {
    /// The file's name; only its last path component is kept.
    name: Option<String>,
}

/// The seat a request speaks for, and its live room.
async fn seat(
    req: &HttpRequest,
    rooms: &Rooms,
) -> Result<(ConferenceId, ParticipantId, actix::Addr<Room>), AppError> {
    let token = super::auth::bearer(req).ok_or(AppError::Unauthorized)?;
    let ticket = rooms.tickets.find(token).ok_or(AppError::Unauthorized)?;
    let room = rooms
        .registry
        .send(conclave_actors::registry::FindRoom {
            conference: ticket.conference,
        })
        .await
        .map_err(|_| AppError::Unavailable)?
        .ok_or_else(|| room_error(RoomError::NotInRoom))?;
    Ok((ticket.conference, ticket.participant, room))
}

fn room_error(e: RoomError) -> AppError {
    let status = match e {
        RoomError::UnknownDocument => StatusCode::NOT_FOUND,
        RoomError::Backlogged => StatusCode::SERVICE_UNAVAILABLE,
        RoomError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::FORBIDDEN,
    };
    AppError::Http {
        status,
        code: e.code(),
        title: e.to_string(),
    }
}

async fn ask(room: &actix::Addr<Room>, command: Command) -> Result<Applied, AppError> {
    room.send(Apply(command))
        .await
        .map_err(|_| AppError::Unavailable)?
        .map_err(room_error)
}

/// Shares a document with the room. The body is the file's bytes; its
/// `Content-Type` is recorded. Needs the `share` permission.
#[utoipa::path(post, path = "/api/v1/room/documents", tag = "room", security(("seat" = [])),
    params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses(
    (status = 201, body = DocumentView),
    (status = 401, description = "`unauthorized`: no seat token, or an unknown one", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, description = "`not_permitted` (share is for moderators), `not_in_room` (the seat is gone)", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 413, description = "`payload_too_large`: over the upload limit (default 25 MiB)", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn upload(
    req: HttpRequest,
    mut body: web::Payload,
    query: web::Query<UploadQuery>,
    rooms: web::Data<Rooms>,
    clock: web::Data<crate::services::Services>,
) -> Result<HttpResponse, AppError> {
    let (conference, by, room) = seat(&req, &rooms).await?;
    // Refused before a byte is stored.
    ask(&room, Command::CheckShare { by }).await?;
    let files = &rooms.files;
    let too_large = || AppError::Http {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "payload_too_large",
        title: format!("documents are limited to {} bytes", files.max_bytes),
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > files.max_bytes) {
        return Err(too_large());
    }
    // Sealed with the meeting's key as it arrives: no byte of it is ever
    // on disk in clear (docs/encryption.md).
    let (_, key) = clock.summary_keys.live_in(conference).ok_or_else(|| {
        tracing::error!(%conference, "a live room without its summary's key");
        AppError::Internal
    })?;
    let temporary = files.temporary(conference).map_err(|e| {
        tracing::error!(error = %e, "cannot create an upload file");
        AppError::Internal
    })?;
    let written = async {
        let mut file = tokio::fs::File::create(&temporary)
            .await
            .map_err(|_| AppError::Internal)?;
        let (mut sealer, header) = AppendSealer::new(*key.expose());
        file.write_all(header.bytes())
            .await
            .map_err(|_| AppError::Internal)?;
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|_| AppError::BadRequest("the upload was cut short".into()))?;
            size += chunk.len() as u64;
            if size > files.max_bytes {
                return Err(too_large());
            }
            file.write_all(&sealer.push(&chunk))
                .await
                .map_err(|_| AppError::Internal)?;
        }
        file.write_all(&sealer.finish())
            .await
            .map_err(|_| AppError::Internal)?;
        file.sync_all().await.map_err(|_| AppError::Internal)?;
        Ok(size)
    }
    .await;
    let size = match written {
        Ok(size) => size,
        Err(e) => {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(e);
        }
    };
    let document = Document {
        id: DocumentId::new(),
        name: clean_filename(query.name.as_deref().unwrap_or("")),
        content_type: clean_content_type(
            req.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        ),
        size,
        by,
        at: clock.clock.now().timestamp_millis(),
    };
    let place = files.path(conference, document.id);
    if let Err(e) = tokio::fs::rename(&temporary, &place).await {
        tracing::error!(error = %e, "cannot move an upload into place");
        let _ = tokio::fs::remove_file(&temporary).await;
        return Err(AppError::Internal);
    }
    let view = DocumentView {
        id: document.id.0,
        name: document.name.clone(),
        content_type: document.content_type.clone(),
        size,
    };
    // The permission may have changed while the bytes came in: the room
    // decides again, and a refusal deletes them.
    if let Err(e) = ask(&room, Command::AddDocument { by, document }).await {
        let _ = tokio::fs::remove_file(&place).await;
        return Err(e);
    }
    Ok(HttpResponse::Created().json(view))
}

/// A shared document's bytes, for anyone seated in its room. Sent as an
/// attachment, never rendered by the browser as a page of this site.
#[utoipa::path(get, path = "/api/v1/room/documents/{id}", tag = "room", security(("seat" = [])),
    params(("id" = uuid::Uuid, Path, description = "Document id")), responses(
    (status = 200, description = "The bytes, with the recorded content type", content_type = "application/octet-stream"),
    (status = 206, description = "The byte range asked for with `Range: bytes=`"),
    (status = 401, description = "`unauthorized`", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, description = "`not_in_room`", body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, description = "`unknown_document` (never shared in this room, or removed)", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn download(
    req: HttpRequest,
    id: web::Path<uuid::Uuid>,
    rooms: web::Data<Rooms>,
    services: web::Data<crate::services::Services>,
) -> Result<HttpResponse, AppError> {
    let (conference, by, room) = seat(&req, &rooms).await?;
    let document = DocumentId(id.into_inner());
    let Applied { reply, .. } = ask(&room, Command::CheckDownload { by, document }).await?;
    let conclave_actors::room_state::Reply::Document(meta) = reply else {
        return Err(AppError::Internal);
    };
    let (_, key) = services
        .summary_keys
        .live_in(conference)
        .ok_or_else(|| room_error(RoomError::UnknownDocument))?;
    let place = rooms.files.path(conference, document);
    let source = web::block(move || super::file_body::Source::open(&place, Some(*key.expose())))
        .await
        .map_err(|_| AppError::Internal)?
        .map_err(|_| room_error(RoomError::UnknownDocument))?;
    let encoded: String = url_encode(&meta.name);
    let mut builder = HttpResponse::Ok();
    builder
        .content_type(meta.content_type.as_str())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename*=UTF-8''{encoded}"),
        ))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("content-security-policy", "sandbox; default-src 'none'"));
    super::file_body::respond(&req, builder, source)
}

/// RFC 5987 percent-encoding of a file name.
fn url_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

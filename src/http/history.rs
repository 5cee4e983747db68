//! What live rooms left behind, for the conference's owner: its sessions
//! with their attendance, the moderator audit log, and the chat (deleted
//! messages as tombstones). Phone numbers are opened here, for the owner
//! alone; they are sealed at rest.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use conclave_actors::ConferenceId;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Authed;
use crate::error::AppError;
use crate::services::Services;
use crate::store::{AuditRow, ChatRow, Page};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/conferences/{id}/sessions").route(web::get().to(sessions)))
        .service(web::resource("/conferences/{id}/audit").route(web::get().to(audit)))
        .service(web::resource("/conferences/{id}/chat").route(web::get().to(chat)));
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// One live session (a room from its first join until it emptied or the
/// server stopped), with who attended.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    id: uuid::Uuid,
    started_at: DateTime<Utc>,
    /// `null` while the session is live.
    ended_at: Option<DateTime<Utc>>,
    attendance: Vec<AttendanceView>,
}

/// One seat's interval. A connection that dropped and resumed within the
/// grace period keeps its interval.
#[derive(Serialize, ToSchema)]
pub struct AttendanceView {
    participant: uuid::Uuid,
    name: String,
    /// `web` or `phone`.
    endpoint: String,
    /// The caller's number, for phone participants.
    phone_number: Option<String>,
    /// The role when the seat was last changed: `moderator` or `participant`.
    role: String,
    joined_at: DateTime<Utc>,
    left_at: Option<DateTime<Utc>>,
    /// `left`, `removed`, `blocked`, `dropped`, `room_closed`, or
    /// `server_stopped` (the server stopped without closing the room: the
    /// session was closed at its next start, at its last recorded event).
    left_reason: Option<String>,
}

/// One moderator action.
#[derive(Serialize, ToSchema)]
pub struct AuditView {
    id: uuid::Uuid,
    session: uuid::Uuid,
    /// The participant who acted.
    actor: uuid::Uuid,
    #[schema(example = "remove_and_block")]
    action: String,
    /// A participant, block, message or document id, depending on the action.
    target: Option<String>,
    /// For `set_permission`: `chat=moderators` and the like.
    detail: Option<String>,
    at: DateTime<Utc>,
}

/// One chat message; a deleted one has `text: null` and `deleted_at`.
#[derive(Serialize, ToSchema)]
pub struct ChatView {
    id: uuid::Uuid,
    session: uuid::Uuid,
    sender: uuid::Uuid,
    sender_name: String,
    text: Option<String>,
    posted_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

/// The conference's sessions, oldest first, each with its attendance.
#[utoipa::path(get, path = "/api/v1/conferences/{id}/sessions", tag = "history", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id")), responses(
    (status = 200, body = [SessionView]),
    (status = 404, description = "`not_found` (also for someone else's conference)", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn sessions(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, AppError> {
    let conference = services
        .reported_conference(&authed.account, ConferenceId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(session_views(&services, conference.id, Page::ALL).await?))
}

/// The conference's moderator actions, oldest first.
#[utoipa::path(get, path = "/api/v1/conferences/{id}/audit", tag = "history", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id")), responses(
    (status = 200, body = [AuditView]),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn audit(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, AppError> {
    let conference = services
        .reported_conference(&authed.account, ConferenceId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(
        services
            .store
            .audit_log(conference.id, Page::ALL)
            .await?
            .into_iter()
            .map(AuditView::from)
            .collect::<Vec<_>>(),
    ))
}

/// The conference's chat over every session, oldest first.
#[utoipa::path(get, path = "/api/v1/conferences/{id}/chat", tag = "history", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id")), responses(
    (status = 200, body = [ChatView]),
    (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
))]
pub async fn chat(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, AppError> {
    let conference = services
        .reported_conference(&authed.account, ConferenceId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(
        services
            .unsealer()
            .chat_log(conference.id, Page::ALL)
            .await?
            .into_iter()
            .map(ChatView::from)
            .collect::<Vec<_>>(),
    ))
}

/// The conference's sessions with their attendance, numbers opened (also
/// for the account export).
pub(super) async fn session_views(
    services: &Services,
    conference: ConferenceId,
    page: Page,
) -> Result<Vec<SessionView>, AppError> {
    let sessions = services.store.conference_sessions(conference, page).await?;
    let mut by_session: std::collections::HashMap<_, Vec<_>> = Default::default();
    let mut unsealer = services.unsealer();
    for a in unsealer.attendance(conference, page).await? {
        by_session.entry(a.session).or_default().push(a);
    }
    let views: Vec<_> = sessions
        .into_iter()
        .map(|s| SessionView {
            id: s.id,
            started_at: time(s.started_at),
            ended_at: s.ended_at.map(time),
            attendance: by_session
                .remove(&s.id)
                .unwrap_or_default()
                .into_iter()
                .map(|a| AttendanceView {
                    phone_number: unsealer.phone(&a),
                    participant: a.participant,
                    name: a.name,
                    endpoint: a.endpoint,
                    role: a.role,
                    joined_at: time(a.joined_at),
                    left_at: a.left_at.map(time),
                    left_reason: a.left_reason,
                })
                .collect(),
        })
        .collect();
    Ok(views)
}

impl SessionView {
    pub(super) fn id(&self) -> uuid::Uuid {
        self.id
    }
}

impl From<AuditRow> for AuditView {
    fn from(r: AuditRow) -> Self {
        AuditView {
            id: r.id,
            session: r.session,
            actor: r.actor,
            action: r.action,
            target: r.target,
            detail: r.detail,
            at: time(r.at),
        }
    }
}

impl AuditView {
    pub(super) fn id(&self) -> uuid::Uuid {
        self.id
    }
}

impl From<ChatRow> for ChatView {
    fn from(r: ChatRow) -> Self {
        ChatView {
            id: r.id,
            session: r.session,
            sender: r.sender,
            sender_name: r.sender_name,
            text: r.text,
            posted_at: time(r.posted_at),
            deleted_at: r.deleted_at.map(time),
        }
    }
}

impl ChatView {
    pub(super) fn id(&self) -> uuid::Uuid {
        self.id
    }
}

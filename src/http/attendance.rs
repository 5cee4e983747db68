//! One session's attendance for its conference's owner, as JSON with totals
//! (seats, web, phone, minutes) and as a CSV download a spreadsheet opens
//! safely (`crate::csv_text`). Phone numbers are opened here, in full, for
//! the owner alone; they are sealed at rest.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use conclave_actors::ConferenceId;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Authed;
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::store::{Page, SessionRow};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/conferences/{id}/sessions/{session}/attendance")
            .route(web::get().to(attendance)),
    )
    .service(
        web::resource("/conferences/{id}/sessions/{session}/attendance.csv")
            .route(web::get().to(attendance_csv)),
    );
}

/// The CSV's columns, in order.
pub const CSV_COLUMNS: [&str; 8] = [
    "name",
    "endpoint",
    "number",
    "role",
    "joined_at",
    "left_at",
    "duration_secs",
    "reason",
];

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// One seat's interval in the session.
#[derive(Serialize, ToSchema)]
pub struct SeatView {
    participant: uuid::Uuid,
    name: String,
    /// `web` or `phone`.
    endpoint: String,
    /// The caller's number in full, for phone seats; else `null`.
    #[schema(example = "+441234567123")]
    phone_number: Option<String>,
    /// `moderator` or `participant`: the role when the seat was last changed.
    role: String,
    joined_at: DateTime<Utc>,
    /// `null` while the seat is taken.
    left_at: Option<DateTime<Utc>>,
    /// Whole seconds from joining to leaving (to the session's end, or to
    /// now, while the seat is taken).
    duration_secs: i64,
    /// `left`, `removed`, `blocked`, `dropped`, `room_closed` or
    /// `server_stopped`; `null` while the seat is taken.
    left_reason: Option<String>,
}

/// Totals over the session's seats. A connection that resumed within the
/// grace is one seat; a person who left and joined again is two.
#[derive(Serialize, ToSchema)]
pub struct TotalsView {
    /// Seats (attendance rows).
    participants: usize,
    web: usize,
    phone: usize,
    /// The sum of every seat's `duration_secs`.
    total_seconds: i64,
    /// `total_seconds` in minutes, rounded up.
    total_minutes: i64,
}

/// One session's attendance, by join time, with its totals.
#[derive(Serialize, ToSchema)]
pub struct SessionAttendanceView {
    session: uuid::Uuid,
    started_at: DateTime<Utc>,
    /// `null` while the session is live.
    ended_at: Option<DateTime<Utc>>,
    totals: TotalsView,
    attendance: Vec<SeatView>,
}

/// The owner's session with its seats, or `NotFound` (someone else's
/// conference, or a session of another conference, is as missing).
async fn load(
    services: &Services,
    authed: &Authed,
    conference: uuid::Uuid,
    session: uuid::Uuid,
) -> Result<SessionAttendanceView, AppError> {
    let conference = services
        .reported_conference(&authed.account, ConferenceId(conference))
        .await?;
    let sessions = services
        .store
        .conference_sessions(conference.id, Page::ALL)
        .await?;
    let SessionRow {
        id,
        started_at,
        ended_at,
    } = sessions
        .into_iter()
        .find(|s| s.id == session)
        .ok_or(AppError::NotFound)?;
    let now = services.clock.now().timestamp_millis();
    let mut unsealer = services.unsealer();
    let seats: Vec<SeatView> = unsealer
        .attendance(conference.id, Page::ALL)
        .await?
        .into_iter()
        .filter(|a| a.session == id)
        .map(|a| {
            let until = a.left_at.or(ended_at).unwrap_or(now);
            SeatView {
                phone_number: unsealer.phone(&a),
                participant: a.participant,
                name: a.name,
                endpoint: a.endpoint,
                role: a.role,
                joined_at: time(a.joined_at),
                left_at: a.left_at.map(time),
                duration_secs: (until - a.joined_at).max(0) / 1000,
                left_reason: a.left_reason,
            }
        })
        .collect();
    let total_seconds: i64 = seats.iter().map(|s| s.duration_secs).sum();
    let phone = seats.iter().filter(|s| s.endpoint == "phone").count();
    Ok(SessionAttendanceView {
        session: id,
        started_at: time(started_at),
        ended_at: ended_at.map(time),
        totals: TotalsView {
            participants: seats.len(),
            web: seats.len() - phone,
            phone,
            total_seconds,
            total_minutes: (total_seconds + 59) / 60,
        },
        attendance: seats,
    })
}

/// One session's attendance with totals.
#[utoipa::path(get, path = "/api/v1/conferences/{id}/sessions/{session}/attendance", tag = "history", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id"), ("session" = uuid::Uuid, Path, description = "Session id")), responses(
    (status = 200, body = SessionAttendanceView),
    (status = 404, description = "`not_found` (also for someone else's conference, or a session of another conference)", body = Problem, content_type = "application/problem+json"),
))]
pub async fn attendance(
    services: web::Data<Services>,
    authed: Authed,
    path: web::Path<(uuid::Uuid, uuid::Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (conference, session) = path.into_inner();
    let view = load(&services, &authed, conference, session).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// One session's attendance as CSV (RFC 4180, UTF-8, CRLF), a header row
/// then one row per seat. Fields a spreadsheet would run as a formula
/// (starting with `=`, `+`, `-`, `@`, tab, carriage return) start with `'`,
/// phone numbers included (`'+441234567123`).
#[utoipa::path(get, path = "/api/v1/conferences/{id}/sessions/{session}/attendance.csv", tag = "history", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id"), ("session" = uuid::Uuid, Path, description = "Session id")), responses(
    (status = 200, description = "Columns: name, endpoint, number, role, joined_at, left_at, duration_secs, reason", content_type = "text/csv; charset=utf-8", body = String),
    (status = 404, description = "`not_found` (also for someone else's conference, or a session of another conference)", body = Problem, content_type = "application/problem+json"),
))]
pub async fn attendance_csv(
    services: web::Data<Services>,
    authed: Authed,
    path: web::Path<(uuid::Uuid, uuid::Uuid)>,
) -> Result<HttpResponse, AppError> {
    let (conference, session) = path.into_inner();
    let view = load(&services, &authed, conference, session).await?;
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut out = String::new();
    crate::csv_text::push_record(&mut out, &CSV_COLUMNS);
    for seat in view.attendance {
        crate::csv_text::push_record(
            &mut out,
            &[
                seat.name,
                seat.endpoint,
                seat.phone_number.unwrap_or_default(),
                seat.role,
                stamp(seat.joined_at),
                seat.left_at.map(stamp).unwrap_or_default(),
                seat.duration_secs.to_string(),
                seat.left_reason.unwrap_or_default(),
            ],
        );
    }
    // Only ids in the name: nothing a person typed reaches the header.
    let filename = format!(
        "attendance-{}-{}.csv",
        view.started_at.format("%Y%m%dT%H%MZ"),
        view.session
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(out))
}

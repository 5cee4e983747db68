//! The account's meetings over all its conferences, for its reports: a
//! date range, newest first, a page at a time (a cursor, so a meeting that
//! starts meanwhile shifts nothing), each with its seats' totals as one
//! session's attendance gives them (docs/api.md).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::store::{AccountSessionRow, SessionQuery};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/reports/sessions").route(web::get().to(sessions)));
}

const DAY_MS: i64 = 86_400_000;
/// The widest range: 1970 to the end of 9999, what both stores' times hold.
const EARLIEST: i64 = 0;
const LATEST: i64 = 253_402_300_800_000;
const MAX_LIMIT: u32 = 100;

#[derive(Deserialize, IntoParams)]
pub struct Range {
    /// The first day (UTC), `YYYY-MM-DD`; default: the earliest.
    from: Option<String>,
    /// The last day (UTC), included; default: the latest.
    to: Option<String>,
    /// Meetings a page, 1 to 100; default 20.
    limit: Option<u32>,
    /// The `next` of the page before.
    after: Option<String>,
    /// `account` (default): the account's own meetings; `organisation`:
    /// every member's, for an admin of the organisation (`not_found` for a
    /// member).
    scope: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Totals {
    participants: i64,
    web: i64,
    phone: i64,
    total_seconds: i64,
    total_minutes: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MeetingView {
    session: uuid::Uuid,
    conference: uuid::Uuid,
    /// The account whose conference it is.
    owner: uuid::Uuid,
    /// The conference's title.
    title: String,
    /// `line` or `scheduled`.
    kind: String,
    started_at: DateTime<Utc>,
    /// `null` while it is live.
    ended_at: Option<DateTime<Utc>>,
    totals: Totals,
}

#[derive(Serialize, ToSchema)]
pub struct MeetingsPage {
    sessions: Vec<MeetingView>,
    /// Pass as `after` for the next page; `null` on the last.
    next: Option<String>,
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn day(field: &'static str, text: &str) -> Result<i64, AppError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
        .ok_or_else(|| AppError::invalid(field, "a date, YYYY-MM-DD"))
}

/// A cursor: the last meeting's start (ms) and id.
fn cursor(text: &str) -> Result<(i64, uuid::Uuid), AppError> {
    let bad = || AppError::invalid("after", "the next of an earlier page");
    let (at, id) = text.split_once('_').ok_or_else(bad)?;
    Ok((
        at.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

impl From<AccountSessionRow> for MeetingView {
    fn from(r: AccountSessionRow) -> Self {
        Self {
            session: r.id,
            conference: r.conference,
            owner: r.owner,
            title: r.title,
            kind: r.kind,
            started_at: time(r.started_at),
            ended_at: r.ended_at.map(time),
            totals: Totals {
                participants: r.seats,
                web: r.seats - r.phone_seats,
                phone: r.phone_seats,
                total_seconds: r.seat_seconds,
                total_minutes: (r.seat_seconds + 59) / 60,
            },
        }
    }
}

/// The account's meetings (or its organisation's), newest first.
#[utoipa::path(get, path = "/api/v1/reports/sessions", tag = "history", security(("bearer" = [])),
    params(Range), responses(
    (status = 200, body = MeetingsPage),
    (status = 404, description = "`not_found`: `scope=organisation` from a member who is not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field`: `from`, `to` (not a date, or before `from`), `limit` (not 1 to 100), `after`, `scope`", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn sessions(
    services: web::Data<Services>,
    authed: Authed,
    range: web::Query<Range>,
) -> Result<HttpResponse, AppError> {
    let from = range.from.as_deref().map(|t| day("from", t)).transpose()?;
    let to = range.to.as_deref().map(|t| day("to", t)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return Err(AppError::invalid("to", "on or after from"));
        }
    }
    let limit = range.limit.unwrap_or(20);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid("limit", "1 to 100"));
    }
    let before = range.after.as_deref().map(cursor).transpose()?;
    let organisation = match range.scope.as_deref() {
        None | Some("account") => false,
        // A member asking for the organisation's is answered as for
        // something that does not exist (docs/organisations.md).
        Some("organisation") if authed.account.is_admin() => true,
        Some("organisation") => return Err(AppError::NotFound),
        Some(_) => return Err(AppError::invalid("scope", "account or organisation")),
    };
    let query = SessionQuery {
        organisation,
        from: from.unwrap_or(EARLIEST).max(EARLIEST),
        to: to.map_or(LATEST, |t| t + DAY_MS).min(LATEST),
        before,
        // One more than asked: whether a next page exists.
        limit: limit + 1,
        now: services.clock.now().timestamp_millis(),
    };
    let mut rows = services
        .store
        .account_sessions(authed.account.id, query)
        .await?;
    let next = (rows.len() > limit as usize).then(|| {
        rows.truncate(limit as usize);
        let last = rows.last().expect("a full page");
        format!("{}_{}", last.started_at, last.id)
    });
    Ok(HttpResponse::Ok().json(MeetingsPage {
        sessions: rows.into_iter().map(MeetingView::from).collect(),
        next,
    }))
}

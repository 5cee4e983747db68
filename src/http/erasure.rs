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
use crate::store::Page;

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
    (status = 409, description = "`last_admin`: the last admin of an organisation with other members; nothing was deleted (docs/organisations.md)", body = Problem, content_type = "application/problem+json"),
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
    // An organisation with other members keeps an admin: checked before
    // any room is closed or file deleted (the store checks again, in the
    // deleting transaction).
    if account.is_admin() {
        let members = services.store.members(account.organisation).await?;
        let others: Vec<_> = members.iter().filter(|m| m.account != account.id).collect();
        if !others.is_empty() && !others.iter().any(|m| m.role == "admin") {
            return Err(AppError::Conflict("last_admin"));
        }
    }
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
    services
        .store
        .delete_account(account.id, services.clock.now().timestamp_millis())
        .await?;
    // Codes kept for outages may name its conferences.
    services.last_known.forget_all();
    tracing::info!(account = %account.id, conferences = conferences.len(), "account deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Which attendance rows are the person to erase, given the row (its name
/// opened) and its number (opened).
type Matcher = dyn Fn(&crate::store::AttendanceRow, Option<String>) -> bool;

/// The name an erased participant's rows keep.
pub const ERASED: &str = "Erased participant";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Everyone who called from this number, in every conference of the
    /// account (its address-book entry goes too).
    phone_number: Option<String>,
    /// With `name`: everyone by that exact name in this conference.
    conference: Option<uuid::Uuid>,
    name: Option<String>,
}

#[derive(serde::Serialize, ToSchema)]
pub struct Erased {
    /// Attendance rows now a tombstone.
    seats: u64,
    /// Chat messages whose text and sender's name were removed.
    messages: u64,
}

/// Erases one person from the account's summaries: their attendance rows
/// keep their times under "Erased participant" with no number, their chat
/// messages keep their place with no text.
#[utoipa::path(post, path = "/api/v1/account/erasures", tag = "accounts", security(("bearer" = [])),
    request_body = EraseRequest, responses(
    (status = 200, body = Erased),
    (status = 404, description = "`not_found`: nobody matched, or the conference is not the account's", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "`conference_live`: a meeting is in progress in a conference concerned", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field`: give `phone_number`, or `conference` and `name`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn erase_participant(
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    authed: Authed,
    body: web::Json<EraseRequest>,
) -> Result<HttpResponse, AppError> {
    let account = &authed.account;
    // Whose summaries: the account's own for a number; for a name, the
    // conference's owner (a member's, for an organisation's admin).
    let (owner, conferences, wanted): (_, Vec<_>, Box<Matcher>) =
        match (&body.phone_number, body.conference, &body.name) {
            (Some(number), None, None) => {
                let number = number.trim().to_owned();
                if number.is_empty() {
                    return Err(AppError::invalid("phone_number", "a phone number"));
                }
                let all = services.store.conferences(account.id).await?;
                let matches = move |_: &crate::store::AttendanceRow, number_of: Option<String>| {
                    number_of.is_some_and(|n| n == number)
                };
                (
                    account.id,
                    all.into_iter().map(|c| c.id).collect(),
                    Box::new(matches),
                )
            }
            (None, Some(conference), Some(name)) => {
                let c = services
                    .reported_conference(account, conclave_actors::ConferenceId(conference))
                    .await?;
                let name = name.clone();
                (
                    c.account_id,
                    vec![c.id],
                    Box::new(move |a: &crate::store::AttendanceRow, _: Option<String>| {
                        a.name == name
                    }),
                )
            }
            _ => {
                return Err(AppError::invalid(
                    "phone_number",
                    "give phone_number, or conference and name",
                ))
            }
        };
    // A live meeting would write its seats again under their names, and
    // its latest seats may not be written yet: every conference searched
    // must be idle, found in it or not.
    for conference in &conferences {
        let live = rooms
            .registry
            .send(FindRoom {
                conference: *conference,
            })
            .await
            .map_err(|_| AppError::Unavailable)?;
        if live.is_some() {
            return Err(AppError::Http {
                status: actix_web::http::StatusCode::CONFLICT,
                code: "conference_live",
                title: "a meeting is in progress in a conference concerned; end it first".into(),
            });
        }
    }
    // Each erased seat keeps a tombstone name sealed with its own
    // summary's key, as every name of that summary is.
    let mut participants = Vec::new();
    let mut unsealer = services.unsealer();
    for conference in &conferences {
        let rows = unsealer.attendance(*conference, Page::ALL).await?;
        for a in rows.iter().filter(|a| wanted(a, unsealer.phone(a))) {
            participants.push((a.participant, unsealer.seal_name(a.session, ERASED)));
        }
    }
    if participants.is_empty() {
        return Err(AppError::NotFound);
    }
    let at = services.clock.now().timestamp_millis();
    let (seats, messages) = services
        .store
        .erase_participants(owner, &participants, at)
        .await?;
    if let Some(number) = &body.phone_number {
        let index = crate::crypto::phone_index(&services.secrets.hmac_key, number.trim());
        match services.store.delete_contact(account.id, &index).await {
            Ok(()) | Err(crate::store::StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let detail =
        serde_json::json!({"people": participants.len(), "seats": seats, "messages": messages});
    services.chain(owner, "participant_erased", detail).await?;
    tracing::info!(account = %account.id, seats, messages, "participant erased");
    Ok(HttpResponse::Ok().json(Erased { seats, messages }))
}

//! The account's default waiting-room setting: its conferences follow it
//! until their moderators choose otherwise in the room (docs/room.md).

use actix_web::{web, HttpResponse};
use conclave_actors::room_state::WaitingRoom;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Authed;
use crate::error::{AppError, Problem};
use crate::services::Services;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/waiting-room")
            .route(web::get().to(get))
            .route(web::put().to(set)),
    );
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitingRoomBody {
    /// `off`, `everyone` (all but moderators and the owner wait) or
    /// `unknown_guests` (guests with no account and no device seen seated
    /// this session wait).
    #[schema(example = "unknown_guests")]
    waiting_room: String,
}

/// The account's default waiting-room setting.
#[utoipa::path(get, path = "/api/v1/account/waiting-room", tag = "codes", security(("bearer" = [])), responses(
    (status = 200, body = WaitingRoomBody),
))]
pub async fn get(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    let waiting_room = services
        .store
        .account_waiting_room(authed.account.id)
        .await?;
    Ok(HttpResponse::Ok().json(WaitingRoomBody { waiting_room }))
}

/// Sets the account's default: conferences whose moderators have not
/// chosen in the room follow it from their next join on.
#[utoipa::path(put, path = "/api/v1/account/waiting-room", tag = "codes", security(("bearer" = [])),
    request_body = WaitingRoomBody, responses(
    (status = 204),
    (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn set(
    services: web::Data<Services>,
    authed: Authed,
    body: web::Json<WaitingRoomBody>,
) -> Result<HttpResponse, AppError> {
    let setting = WaitingRoom::parse(&body.waiting_room).ok_or_else(|| {
        AppError::invalid("waiting_room", "must be off, everyone or unknown_guests")
    })?;
    services
        .store
        .set_account_waiting_room(authed.account.id, setting.as_str())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

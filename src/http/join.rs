//! `POST /api/v1/join/check`: checks join credentials without joining, for a
//! lobby page that wants to say "wrong code" before opening a WebSocket. It
//! runs the same resolve (and the same throttling) the room engine uses.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::client_address;
use crate::codes::{Credentials, Refusal};
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::throttle::ThrottleKey;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/join/check").route(web::post().to(check)));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinCheckRequest {
    #[schema(example = "4829105736")]
    access_code: String,
    /// Needed when the conference has a security code.
    #[schema(example = "2468")]
    security_code: Option<String>,
    /// Given to join as a moderator.
    #[schema(example = "40718263")]
    moderator_pin: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct JoinCheckResponse {
    conference_id: uuid::Uuid,
    title: String,
    /// `moderator` or `participant`.
    #[schema(example = "participant")]
    role: &'static str,
}

/// Checks credentials. Refusals: `invalid_credentials` (unknown, retired or
/// expired access code, or wrong security code: one answer for all),
/// `security_code_required`, `invalid_moderator_pin`, `throttled`, `busy`.
#[utoipa::path(post, path = "/api/v1/join/check", tag = "join", request_body = JoinCheckRequest, responses(
    (status = 200, body = JoinCheckResponse),
    (status = 401, description = "`invalid_credentials`, `security_code_required` or `invalid_moderator_pin`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`throttled`, with Retry-After", body = Problem, content_type = "application/problem+json"),
    (status = 503, description = "`busy` or `unavailable`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn check(
    req: HttpRequest,
    services: web::Data<Services>,
    body: web::Json<JoinCheckRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let creds = Credentials {
        access_code: body.access_code,
        security_code: body.security_code,
        moderator_pin: body.moderator_pin,
    };
    match services
        .resolve(&creds, ThrottleKey::Address(client_address(&req)))
        .await
    {
        // Someone is guessing this conference's codes: the check tells
        // nothing until the limit lifts (a join would wait for a moderator).
        Ok(a) if a.held.is_some() => Err(AppError::Throttled {
            retry_after_secs: a.held.unwrap_or(1),
        }),
        Ok(a) => Ok(HttpResponse::Ok().json(JoinCheckResponse {
            conference_id: a.conference_id.0,
            title: a.title,
            role: a.role.as_str(),
        })),
        Err(refusal) => Err(refusal_error(refusal)),
    }
}

fn refusal_error(r: Refusal) -> AppError {
    match r {
        Refusal::Throttled { retry_after_secs }
        | Refusal::Deflected {
            retry_after_secs, ..
        } => AppError::Throttled { retry_after_secs },
        Refusal::Busy => AppError::Busy,
        Refusal::Unavailable => AppError::Unavailable,
        other => AppError::Http {
            status: StatusCode::UNAUTHORIZED,
            code: other.code(),
            title: other.to_string(),
        },
    }
}

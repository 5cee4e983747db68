//! The account's conference line, its codes, the default security code, and
//! scheduled conferences.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use conclave_actors::ConferenceId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Authed;
use crate::codes::SecurityRequest;
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::store::Conference;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/account/line").route(web::get().to(line)))
        .service(
            web::resource("/account/line/access-code/reset")
                .route(web::post().to(reset_access_code)),
        )
        .service(
            web::resource("/account/line/moderator-pin/reset")
                .route(web::post().to(reset_moderator_pin)),
        )
        .service(
            web::resource("/account/default-security-code")
                .route(web::put().to(set_default_security_code))
                .route(web::delete().to(clear_default_security_code)),
        )
        .service(
            web::resource("/conferences")
                .route(web::get().to(list))
                .route(web::post().to(schedule)),
        )
        .service(web::resource("/conferences/{id}").route(web::get().to(get)))
        .service(
            web::resource("/conferences/{id}/security-code")
                .route(web::put().to(set_security_code)),
        );
}

/// A conference as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct ConferenceView {
    id: uuid::Uuid,
    /// `line` (the permanent line) or `scheduled`.
    #[schema(example = "scheduled")]
    kind: &'static str,
    title: String,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    /// The code participants dial or type.
    #[schema(example = "4829105736")]
    access_code: String,
    /// Where the security code comes from: `none`, `default` (the account
    /// default), `own`.
    #[schema(example = "default")]
    security: &'static str,
    /// Whether joining needs a security code.
    security_code_required: bool,
}

impl From<&Conference> for ConferenceView {
    fn from(c: &Conference) -> Self {
        Self {
            id: c.id.0,
            kind: c.kind.as_str(),
            title: c.title.clone(),
            starts_at: c.starts_at,
            ends_at: c.ends_at,
            access_code: c.access_code.clone(),
            security: c.security_source.as_str(),
            security_code_required: c.security.is_some(),
        }
    }
}

/// The permanent line: its access code and whether it needs a security code.
#[utoipa::path(get, path = "/api/v1/account/line", tag = "codes", security(("bearer" = [])), responses(
    (status = 200, body = ConferenceView),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn line(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    let line = services.line(&authed.account).await?;
    Ok(HttpResponse::Ok().json(ConferenceView::from(&line)))
}

#[derive(Serialize, ToSchema)]
pub struct AccessCodeView {
    /// The new access code; the old one is refused from now on.
    #[schema(example = "7730192846")]
    access_code: String,
}

/// Issues a new line access code. Participants already in the room stay.
#[utoipa::path(post, path = "/api/v1/account/line/access-code/reset", tag = "codes", security(("bearer" = [])), responses(
    (status = 200, body = AccessCodeView),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn reset_access_code(
    services: web::Data<Services>,
    authed: Authed,
) -> Result<HttpResponse, AppError> {
    let access_code = services.reset_access_code(&authed.account).await?;
    Ok(HttpResponse::Ok().json(AccessCodeView { access_code }))
}

#[derive(Serialize, ToSchema)]
pub struct ModeratorPinView {
    /// The new moderator PIN, shown this once; the old one is refused from now on.
    #[schema(example = "40718263")]
    moderator_pin: String,
}

/// Issues a new moderator PIN (for the line and every scheduled conference).
#[utoipa::path(post, path = "/api/v1/account/line/moderator-pin/reset", tag = "codes", security(("bearer" = [])), responses(
    (status = 200, body = ModeratorPinView),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn reset_moderator_pin(
    services: web::Data<Services>,
    authed: Authed,
) -> Result<HttpResponse, AppError> {
    let moderator_pin = services.reset_moderator_pin(&authed.account).await?;
    Ok(HttpResponse::Ok().json(ModeratorPinView { moderator_pin }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityCodeBody {
    /// 4 to 16 digits.
    #[schema(example = "2468")]
    security_code: String,
}

/// Sets the account default security code. It applies to the line and to
/// conferences scheduled from now on; conferences already scheduled keep
/// what they had.
#[utoipa::path(put, path = "/api/v1/account/default-security-code", tag = "codes", security(("bearer" = [])),
    request_body = SecurityCodeBody, responses(
    (status = 204),
    (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn set_default_security_code(
    services: web::Data<Services>,
    authed: Authed,
    body: web::Json<SecurityCodeBody>,
) -> Result<HttpResponse, AppError> {
    services
        .set_default_security_code(&authed.account, Some(&body.security_code))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes the account default security code (the line then needs none;
/// scheduled conferences keep what they had).
#[utoipa::path(delete, path = "/api/v1/account/default-security-code", tag = "codes", security(("bearer" = [])), responses(
    (status = 204),
))]
pub async fn clear_default_security_code(
    services: web::Data<Services>,
    authed: Authed,
) -> Result<HttpResponse, AppError> {
    services
        .set_default_security_code(&authed.account, None)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// How a conference's security code is chosen.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityChoiceBody {
    /// `none`, `default` (the account default as it is now) or `own`.
    #[schema(example = "own")]
    mode: String,
    /// With `own`: 4 to 16 digits.
    #[schema(example = "9753")]
    security_code: Option<String>,
}

impl SecurityChoiceBody {
    fn request(&self) -> Result<SecurityRequest, AppError> {
        match (self.mode.as_str(), &self.security_code) {
            ("none", None) => Ok(SecurityRequest::None),
            ("default", None) => Ok(SecurityRequest::AccountDefault),
            ("own", Some(code)) => Ok(SecurityRequest::Own(code.clone())),
            ("own", None) => Err(AppError::invalid(
                "security_code",
                "required with mode `own`",
            )),
            ("none" | "default", Some(_)) => {
                Err(AppError::invalid("security_code", "only with mode `own`"))
            }
            _ => Err(AppError::invalid("mode", "one of `none`, `default`, `own`")),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRequest {
    #[schema(example = "Board meeting")]
    title: String,
    #[schema(example = "2026-12-01T09:00:00Z")]
    starts_at: DateTime<Utc>,
    #[schema(example = "2026-12-01T10:00:00Z")]
    ends_at: DateTime<Utc>,
    /// Defaults to `{"mode": "default"}`.
    security: Option<SecurityChoiceBody>,
}

/// Schedules a conference with its own one-time access code, valid until
/// its end plus the configured grace.
#[utoipa::path(post, path = "/api/v1/conferences", tag = "conferences", security(("bearer" = [])),
    request_body = ScheduleRequest, responses(
    (status = 201, body = ConferenceView),
    (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn schedule(
    services: web::Data<Services>,
    authed: Authed,
    body: web::Json<ScheduleRequest>,
) -> Result<HttpResponse, AppError> {
    let security = match &body.security {
        Some(s) => s.request()?,
        None => SecurityRequest::AccountDefault,
    };
    let conference = services
        .schedule(
            &authed.account,
            &body.title,
            body.starts_at,
            body.ends_at,
            security,
        )
        .await?;
    Ok(HttpResponse::Created().json(ConferenceView::from(&conference)))
}

/// The account's conferences: the line first, then scheduled ones by start.
#[utoipa::path(get, path = "/api/v1/conferences", tag = "conferences", security(("bearer" = [])), responses(
    (status = 200, body = Vec<ConferenceView>),
))]
pub async fn list(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    let all = services.store.conferences(authed.account.id).await?;
    Ok(HttpResponse::Ok().json(all.iter().map(ConferenceView::from).collect::<Vec<_>>()))
}

/// One of the account's conferences.
#[utoipa::path(get, path = "/api/v1/conferences/{id}", tag = "conferences", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id")), responses(
    (status = 200, body = ConferenceView),
    (status = 404, description = "`not_found` (also for someone else's conference)", body = Problem, content_type = "application/problem+json"),
))]
pub async fn get(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<uuid::Uuid>,
) -> Result<HttpResponse, AppError> {
    let conference = services
        .owned_conference(&authed.account, ConferenceId(id.into_inner()))
        .await?;
    Ok(HttpResponse::Ok().json(ConferenceView::from(&conference)))
}

/// Changes a scheduled conference's security code, at any time; the next
/// join checks the new one.
#[utoipa::path(put, path = "/api/v1/conferences/{id}/security-code", tag = "conferences", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "Conference id")),
    request_body = SecurityChoiceBody, responses(
    (status = 200, body = ConferenceView),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field` (also for the line, which follows the default)", body = Problem, content_type = "application/problem+json"),
))]
pub async fn set_security_code(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<uuid::Uuid>,
    body: web::Json<SecurityChoiceBody>,
) -> Result<HttpResponse, AppError> {
    let conference = services
        .set_conference_security(
            &authed.account,
            ConferenceId(id.into_inner()),
            body.request()?,
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConferenceView::from(&conference)))
}

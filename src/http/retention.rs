//! The organisation's retention settings (docs/privacy.md "Retention"):
//! how many days every member's summaries and chat are kept before the
//! retention job deletes them. Every member reads them (they say how long
//! its data is kept); only an admin sets them, and a member's attempt is
//! answered `not_found`, as the other admin-only organisation endpoints.
//! `/account/retention` is the same resource under the name it had before
//! organisations.

use actix_web::{web, HttpResponse};

use super::auth::Authed;
use super::organisations::administered;
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::store::retention::RetentionDays;

/// The longest retention that can be set: ten years.
const MAX_DAYS: u16 = 3650;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(["/organisation/retention", "/account/retention"])
            .route(web::get().to(get))
            .route(web::put().to(set)),
    );
}

/// The retention of the account's organisation: days, or `null` to keep
/// until deleted by hand.
#[utoipa::path(get, path = "/api/v1/organisation/retention", tag = "organisations", security(("bearer" = [])), responses(
    (status = 200, body = RetentionDays),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn get(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    let organisation = authed.account.organisation;
    Ok(HttpResponse::Ok().json(services.store.retention(organisation).await?))
}

/// Sets the organisation's retention (admins). The job deletes what has
/// expired, in every member's conferences, within the hour
/// (`[retention] interval_secs`).
#[utoipa::path(put, path = "/api/v1/organisation/retention", tag = "organisations", security(("bearer" = [])),
    request_body = RetentionDays, responses(
    (status = 200, body = RetentionDays),
    (status = 404, description = "`not_found`: not an admin", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field`: `summary_days` or `chat_days` is not a whole number of days from 1 to 3650", body = Problem, content_type = "application/problem+json"),
))]
pub async fn set(
    services: web::Data<Services>,
    authed: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    let organisation = administered(&authed.account)?;
    let days = RetentionDays {
        summary_days: days(&body, "summary_days")?,
        chat_days: days(&body, "chat_days")?,
    };
    services.store.set_retention(organisation, days).await?;
    tracing::info!(account = %authed.account.id, %organisation, summary_days = ?days.summary_days, chat_days = ?days.chat_days, "retention set");
    Ok(HttpResponse::Ok().json(days))
}

/// A field as days: absent or `null` for none, else 1 to 3650.
fn days(body: &serde_json::Value, field: &'static str) -> Result<Option<u16>, AppError> {
    match body.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|d| u16::try_from(d).ok())
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .map(Some)
            .ok_or_else(|| {
                AppError::invalid(field, "a whole number of days from 1 to 3650, or null")
            }),
    }
}

//! The account's retention settings (docs/privacy.md "Retention"): how
//! many days summaries and chat are kept before the retention job deletes
//! them.

use actix_web::{web, HttpResponse};

use super::auth::Authed;
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::store::retention::RetentionDays;

/// The longest retention that can be set: ten years.
const MAX_DAYS: u16 = 3650;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/retention")
            .route(web::get().to(get))
            .route(web::put().to(set)),
    );
}

/// The account's retention: days, or `null` to keep until deleted by hand.
#[utoipa::path(get, path = "/api/v1/account/retention", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, body = RetentionDays),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn get(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().json(services.store.retention(authed.account.id).await?))
}

/// Sets the account's retention. The job deletes what has expired within
/// the hour (`[retention] interval_secs`).
#[utoipa::path(put, path = "/api/v1/account/retention", tag = "accounts", security(("bearer" = [])),
    request_body = RetentionDays, responses(
    (status = 200, body = RetentionDays),
    (status = 422, description = "`invalid_field`: `summary_days` or `chat_days` is not a whole number of days from 1 to 3650", body = Problem, content_type = "application/problem+json"),
))]
pub async fn set(
    services: web::Data<Services>,
    authed: Authed,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, AppError> {
    let days = RetentionDays {
        summary_days: days(&body, "summary_days")?,
        chat_days: days(&body, "chat_days")?,
    };
    services
        .store
        .set_retention(authed.account.id, days)
        .await?;
    tracing::info!(account = %authed.account.id, summary_days = ?days.summary_days, chat_days = ?days.chat_days, "retention set");
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

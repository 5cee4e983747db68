//! Webhook endpoints (docs/webhooks.md): an account adds the HTTPS URLs
//! that should hear about its conferences, with the events each wants; the
//! signing secret is shown once. It reads each endpoint's latest
//! deliveries and sends a failed one again.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Authed;
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::store::{DeliveryRow, WebhookEndpointRow};
use crate::webhooks::{guard, signing, EVENT_TYPES};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/webhooks")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/account/webhooks/{id}").route(web::delete().to(delete)))
    .service(web::resource("/account/webhooks/{id}/deliveries").route(web::get().to(deliveries)))
    .service(
        web::resource("/account/webhooks/{id}/deliveries/{seq}/retry").route(web::post().to(retry)),
    );
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where to POST; `https://` and a public address.
    #[schema(example = "https://hooks.example.com/conclave")]
    url: String,
    /// The event types to send (at least one; see docs/webhooks.md).
    #[schema(example = json!(["participant.joined", "participant.left"]))]
    events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    id: uuid::Uuid,
    url: String,
    events: Vec<String>,
    created_at: i64,
}

impl From<WebhookEndpointRow> for EndpointView {
    fn from(r: WebhookEndpointRow) -> Self {
        Self {
            id: r.id,
            url: r.url,
            events: r.events,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    view: EndpointView,
    /// The signing secret (`whsec_…`), shown this once.
    secret: String,
}

fn events(asked: &[String]) -> Result<Vec<String>, AppError> {
    if asked.is_empty() {
        return Err(AppError::invalid("events", "choose at least one event"));
    }
    let mut out: Vec<String> = Vec::new();
    for e in asked {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(AppError::invalid(
                "events",
                format!("unknown event type; known: {}", EVENT_TYPES.join(", ")),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

/// Adds an endpoint; the answer shows its signing secret once.
#[utoipa::path(post, path = "/api/v1/account/webhooks", tag = "webhooks", security(("bearer" = [])),
    request_body = CreateEndpoint, responses(
    (status = 201, body = CreatedEndpoint),
    (status = 409, description = "`too_many_endpoints`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field` (url or events)", body = Problem, content_type = "application/problem+json"),
))]
pub async fn create(
    services: web::Data<Services>,
    authed: Authed,
    body: web::Json<CreateEndpoint>,
) -> Result<HttpResponse, AppError> {
    let config = &services.webhooks;
    let url = body.url.trim().to_owned();
    let uri = guard::check_url(&url, config.policy())
        .map_err(|e| AppError::invalid("url", e.to_string()))?;
    // A name that resolves only to private addresses now is refused now;
    // every connection checks again (names change). One that does not
    // resolve yet is taken: its deliveries will say so.
    if let Some(host) = uri.host() {
        let port = uri.port_u16().unwrap_or(443);
        if guard::resolve(host, port, config.policy()).await == Err(guard::Unreachable::NotPublic) {
            return Err(AppError::invalid(
                "url",
                guard::UrlError::NotPublic.to_string(),
            ));
        }
    }
    let events = events(&body.events)?;
    let existing = services.store.webhook_endpoints(authed.account.id).await?;
    if existing.len() >= config.max_endpoints_per_account {
        return Err(AppError::Http {
            status: actix_web::http::StatusCode::CONFLICT,
            code: "too_many_endpoints",
            title: format!(
                "an account has at most {} webhook endpoints; delete one first",
                config.max_endpoints_per_account
            ),
        });
    }
    let secret = signing::new_secret();
    let row = WebhookEndpointRow {
        id: uuid::Uuid::new_v4(),
        account_id: authed.account.id,
        url,
        events,
        created_at: services.clock.now().timestamp_millis(),
    };
    let sealed = crate::crypto::seal(&services.secrets.encryption_key, secret.as_bytes());
    services
        .store
        .insert_webhook_endpoint(&row, &sealed)
        .await?;
    tracing::info!(account = %authed.account.id, endpoint = %row.id, "webhook endpoint added");
    Ok(HttpResponse::Created().json(CreatedEndpoint {
        view: row.into(),
        secret,
    }))
}

/// The account's endpoints (never their secrets).
#[utoipa::path(get, path = "/api/v1/account/webhooks", tag = "webhooks", security(("bearer" = [])), responses(
    (status = 200, body = [EndpointView]),
))]
pub async fn list(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    let rows = services.store.webhook_endpoints(authed.account.id).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(EndpointView::from).collect::<Vec<_>>()))
}

fn endpoint_id(id: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(id).map_err(|_| AppError::NotFound)
}

/// Deletes an endpoint: nothing more is sent to it.
#[utoipa::path(delete, path = "/api/v1/account/webhooks/{id}", tag = "webhooks", security(("bearer" = [])), responses(
    (status = 204),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn delete(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = endpoint_id(&id)?;
    let at = services.clock.now().timestamp_millis();
    services
        .store
        .delete_webhook_endpoint(authed.account.id, id, at)
        .await?;
    tracing::info!(account = %authed.account.id, endpoint = %id, "webhook endpoint deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// At most this many, newest first (1 to 200; 50 by default).
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    /// The event's number in the server's outbox, for `retry`.
    seq: i64,
    /// The `webhook-id` header: the same on every attempt.
    event_id: uuid::Uuid,
    conference: uuid::Uuid,
    #[serde(rename = "type")]
    kind: String,
    /// `pending`, `delivered` or `failed` (no attempts left).
    state: String,
    attempts: i32,
    next_attempt_at: Option<i64>,
    last_status: Option<i32>,
    last_error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(r: DeliveryRow) -> Self {
        Self {
            seq: r.event_seq,
            event_id: r.event_id,
            conference: r.conference,
            next_attempt_at: (r.state == "pending").then_some(r.next_attempt_at),
            kind: r.kind,
            state: r.state,
            attempts: r.attempts,
            last_status: r.last_status,
            last_error: r.last_error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

/// The endpoint's latest deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/account/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(DeliveriesQuery), responses(
    (status = 200, body = [DeliveryView]),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn deliveries(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<String>,
    query: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, AppError> {
    let id = endpoint_id(&id)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid("limit", "between 1 and 200"));
    }
    let rows = services
        .store
        .webhook_deliveries(authed.account.id, id, limit)
        .await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(DeliveryView::from).collect::<Vec<_>>()))
}

/// Sends a failed delivery again, from now.
#[utoipa::path(post, path = "/api/v1/account/webhooks/{id}/deliveries/{seq}/retry", tag = "webhooks", security(("bearer" = [])), responses(
    (status = 204),
    (status = 404, description = "`not_found` (or not failed)", body = Problem, content_type = "application/problem+json"),
))]
pub async fn retry(
    services: web::Data<Services>,
    authed: Authed,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let id = endpoint_id(&path.0)?;
    let seq: i64 = path.1.parse().map_err(|_| AppError::NotFound)?;
    let now = services.clock.now().timestamp_millis();
    services
        .store
        .retry_delivery(authed.account.id, id, seq, now)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

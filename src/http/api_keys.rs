//! API keys and join tokens (docs/tokens.md): an account creates keys for
//! its applications (shown once, kept hashed, revocable); an application
//! presents one to mint a short-lived join token for one of the account's
//! conferences.

use actix_web::{web, HttpRequest, HttpResponse};
use conclave_actors::{ConferenceId, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{bearer, Authed};
use crate::crypto;
use crate::error::{AppError, Problem};
use crate::join_tokens::MAX_TTL_SECS;
use crate::services::Services;
use crate::store::{ApiKeyRow, StoreError};

/// What an API key looks like: easy to spot in a leak scanner.
const KEY_PREFIX: &str = "ck_";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/account/api-keys")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/account/api-keys/{id}").route(web::delete().to(revoke)))
    .service(web::resource("/join-tokens").route(web::post().to(mint)));
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for, to recognise it later; 1 to 100 characters.
    #[schema(example = "School portal")]
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    id: uuid::Uuid,
    name: String,
    created_at: i64,
    /// When it was revoked (milliseconds since the epoch), if it was.
    revoked_at: Option<i64>,
}

impl From<ApiKeyRow> for KeyView {
    fn from(r: ApiKeyRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    view: KeyView,
    /// The key itself, shown this once.
    key: String,
}

/// Creates an API key; the answer shows it once.
#[utoipa::path(post, path = "/api/v1/account/api-keys", tag = "tokens", security(("bearer" = [])),
    request_body = CreateKey, responses(
    (status = 201, body = CreatedKey),
    (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn create(
    services: web::Data<Services>,
    authed: Authed,
    body: web::Json<CreateKey>,
) -> Result<HttpResponse, AppError> {
    let name = crate::validate::text("name", &body.name, 100)?;
    let key = format!("{KEY_PREFIX}{}", crypto::new_token());
    let row = ApiKeyRow {
        id: uuid::Uuid::new_v4(),
        account_id: authed.account.id,
        name,
        created_at: services.clock.now().timestamp_millis(),
        revoked_at: None,
    };
    services
        .store
        .insert_api_key(&row, &crypto::token_hash(&key))
        .await?;
    tracing::info!(account = %authed.account.id, key = %row.id, "API key created");
    Ok(HttpResponse::Created().json(CreatedKey {
        view: row.into(),
        key,
    }))
}

/// The account's API keys, revoked ones included (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/account/api-keys", tag = "tokens", security(("bearer" = [])), responses(
    (status = 200, body = [KeyView]),
))]
pub async fn list(services: web::Data<Services>, authed: Authed) -> Result<HttpResponse, AppError> {
    let keys = services.store.api_keys(authed.account.id).await?;
    Ok(HttpResponse::Ok().json(keys.into_iter().map(KeyView::from).collect::<Vec<_>>()))
}

/// Revokes a key: it mints nothing more, and its tokens stop working at once.
#[utoipa::path(delete, path = "/api/v1/account/api-keys/{id}", tag = "tokens", security(("bearer" = [])), responses(
    (status = 204),
    (status = 404, description = "`not_found`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn revoke(
    services: web::Data<Services>,
    authed: Authed,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| AppError::NotFound)?;
    let at = services.clock.now().timestamp_millis();
    services
        .store
        .revoke_api_key(authed.account.id, id, at)
        .await?;
    tracing::info!(account = %authed.account.id, key = %id, "API key revoked");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    /// One of the key's account's conferences (the line or a scheduled one).
    conference: uuid::Uuid,
    /// The name the room shows; 1 to 100 characters.
    #[schema(example = "Ada Lovelace")]
    name: String,
    /// The application's own id for this person; 1 to 200 characters. A
    /// block bars it: no fresh token for it enters while the block stands.
    #[schema(example = "student-4711")]
    identity: String,
    /// `participant` (the default) or `moderator`.
    #[serde(default)]
    role: Option<String>,
    /// Seconds the token is valid for joining: 1 to 3600, 600 by default.
    #[serde(default)]
    ttl_secs: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Minted {
    /// Send as `join_token` in the WebSocket `join`.
    token: String,
    /// Seconds since the epoch.
    expires_at: i64,
}

/// Mints a join token, with an API key as the bearer token.
#[utoipa::path(post, path = "/api/v1/join-tokens", tag = "tokens", security(("bearer" = [])),
    request_body = MintRequest, responses(
    (status = 201, body = Minted),
    (status = 401, description = "`unauthorized`: no API key, an unknown or a revoked one", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "`not_found`: not one of the key's account's conferences", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn mint(
    req: HttpRequest,
    services: web::Data<Services>,
    body: web::Json<MintRequest>,
) -> Result<HttpResponse, AppError> {
    let key = bearer(&req)
        .filter(|k| k.starts_with(KEY_PREFIX))
        .ok_or(AppError::Unauthorized)?;
    let key = match services
        .store
        .api_key_by_hash(&crypto::token_hash(key))
        .await
    {
        Ok(k) if k.revoked_at.is_none() => k,
        Ok(_) | Err(StoreError::NotFound) => return Err(AppError::Unauthorized),
        Err(e) => return Err(e.into()),
    };
    let body = body.into_inner();
    let name = crate::validate::text("name", &body.name, 100)?;
    let identity = crate::validate::text("identity", &body.identity, 200)?;
    let role = match body.role.as_deref() {
        None | Some("participant") => Role::Participant,
        Some("moderator") => Role::Moderator,
        Some(_) => {
            return Err(AppError::invalid(
                "role",
                "must be participant or moderator",
            ))
        }
    };
    let ttl = body.ttl_secs.unwrap_or(600);
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return Err(AppError::invalid("ttl_secs", "must be 1 to 3600"));
    }
    let conference = match services
        .store
        .conference(ConferenceId(body.conference))
        .await
    {
        Ok(c) if c.account_id == key.account_id => c,
        Ok(_) | Err(StoreError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let now = services.clock.now().timestamp();
    let (token, expires_at) =
        services
            .join_tokens
            .mint(key.id, conference.id.0, &identity, &name, role, now, ttl);
    Ok(HttpResponse::Created().json(Minted { token, expires_at }))
}

//! Account endpoints: sign up, sign in, sign out, who am I.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{client_address, Authed};
use super::conferences::ConferenceView;
use crate::error::{AppError, Problem};
use crate::services::Services;
use crate::store::Account;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/accounts").route(web::post().to(sign_up)))
        .service(web::resource("/sessions").route(web::post().to(sign_in)))
        .service(web::resource("/sessions/current").route(web::delete().to(sign_out)))
        .service(
            web::resource("/account")
                .route(web::get().to(me))
                .route(web::delete().to(super::erasure::delete_account)),
        );
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// Used to sign in; stored lower-cased.
    #[schema(example = "ada@example.org")]
    email: String,
    /// 10 to 256 characters.
    #[schema(example = "correct horse battery")]
    password: String,
    /// Shown to participants; 1 to 100 characters.
    #[schema(example = "Ada Lovelace")]
    display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccountView {
    id: uuid::Uuid,
    email: String,
    display_name: String,
    /// Whether a default security code is set (the code itself is never stored).
    default_security_code: bool,
    created_at: DateTime<Utc>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.0,
            email: a.email.clone(),
            display_name: a.display_name.clone(),
            default_security_code: a.default_security.is_some(),
            created_at: a.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    /// Send as `Authorization: Bearer <token>`.
    token: String,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct SignUpResponse {
    account: AccountView,
    /// The permanent conference line.
    line: ConferenceView,
    /// The moderator PIN, shown this once. Reset it to get a new one.
    moderator_pin: String,
    /// Send as `Authorization: Bearer <token>`: the same place as in the
    /// sign-in answer.
    token: String,
    expires_at: DateTime<Utc>,
    /// The same token and expiry again, where the first releases put them.
    session: SignedIn,
}

/// Creates an account with its permanent conference line, and signs in.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = SignUpRequest, responses(
    (status = 201, body = SignUpResponse),
    (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "`invalid_field`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn sign_up(
    services: web::Data<Services>,
    body: web::Json<SignUpRequest>,
) -> Result<HttpResponse, AppError> {
    let done = services
        .sign_up(&body.email, &body.password, &body.display_name)
        .await?;
    Ok(HttpResponse::Created().json(SignUpResponse {
        account: AccountView::from(&done.account),
        line: ConferenceView::from(&done.line),
        moderator_pin: done.moderator_pin,
        token: done.session.token.clone(),
        expires_at: done.session.expires_at,
        session: SignedIn {
            token: done.session.token,
            expires_at: done.session.expires_at,
        },
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    #[schema(example = "ada@example.org")]
    email: String,
    #[schema(example = "correct horse battery")]
    password: String,
}

/// Signs in. An unknown e-mail and a wrong password get the same answer;
/// failures are throttled per client address and per account.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = SignInRequest, responses(
    (status = 201, body = SignedIn),
    (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "`throttled`, with Retry-After", body = Problem, content_type = "application/problem+json"),
))]
pub async fn sign_in(
    req: HttpRequest,
    services: web::Data<Services>,
    body: web::Json<SignInRequest>,
) -> Result<HttpResponse, AppError> {
    let session = services
        .sign_in(&body.email, &body.password, &client_address(&req))
        .await?;
    Ok(HttpResponse::Created().json(SignedIn {
        token: session.token,
        expires_at: session.expires_at,
    }))
}

/// Revokes the token this request carries.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "accounts", security(("bearer" = [])), responses(
    (status = 204),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn sign_out(
    services: web::Data<Services>,
    authed: Authed,
) -> Result<HttpResponse, AppError> {
    services.sign_out(&authed.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/account", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, body = AccountView),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn me(authed: Authed) -> HttpResponse {
    HttpResponse::Ok().json(AccountView::from(&authed.account))
}

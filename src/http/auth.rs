//! The bearer-token extractor: a handler that takes [`Authed`] runs only for
//! a live session. Tokens travel in the `Authorization` header, never in a
//! URL.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use crate::error::AppError;
use crate::services::Services;
use crate::store::Account;

/// The signed-in account and the token that proved it.
pub struct Authed {
    pub account: Account,
    pub token: String,
}

impl FromRequest for Authed {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let services = req.app_data::<web::Data<Services>>().cloned();
        let token = bearer(req).map(str::to_owned);
        Box::pin(async move {
            let services = services.ok_or(AppError::Internal)?;
            let token = token.ok_or(AppError::Unauthorized)?;
            let account = services.authenticate(&token).await?;
            Ok(Authed { account, token })
        })
    }
}

/// The `Authorization: Bearer` credential, when present and of a sane
/// length (1 to 128 characters).
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 128)
}

/// The client address failures are counted against.
pub fn client_address(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

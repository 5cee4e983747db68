//! The one error type of the service layer and its HTTP form: every error
//! becomes an `application/problem+json` body with a stable `code`. Messages
//! never carry a secret, a token or a full phone number.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::passwords::Busy;
use crate::store::StoreError;

/// What went wrong, in terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A field is missing, malformed or out of range.
    #[error("{field}: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// The request body is not what the endpoint takes.
    #[error("{0}")]
    BadRequest(String),
    /// Wrong e-mail or password (one answer for both).
    #[error("wrong e-mail or password")]
    InvalidCredentials,
    /// No valid bearer token.
    #[error("sign in first: missing, expired or revoked token")]
    Unauthorized,
    /// Too many failures from this client or for this account; retry later.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// The password-check pool is full.
    #[error("the server is busy checking other secrets; retry shortly")]
    Busy,
    /// Something with that identity already exists, or the change would
    /// break a rule the store keeps (`last_admin`).
    #[error("{}", conflict_title(.0))]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("the store is unavailable; retry shortly")]
    Unavailable,
    #[error("internal error")]
    Internal,
    /// A raw HTTP-level refusal (unknown route, wrong method, body too large).
    #[error("{title}")]
    Http {
        status: StatusCode,
        code: &'static str,
        title: String,
    },
}

impl AppError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field,
            message: message.into(),
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::InvalidField { .. } => "invalid_field",
            AppError::BadRequest(_) => "bad_request",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Unauthorized => "unauthorized",
            AppError::Throttled { .. } => "throttled",
            AppError::Busy => "busy",
            AppError::Conflict("email") => "email_taken",
            AppError::Conflict("last_admin") => "last_admin",
            AppError::Conflict(_) => "conflict",
            AppError::NotFound => "not_found",
            AppError::Unavailable => "unavailable",
            AppError::Internal => "internal",
            AppError::Http { code, .. } => code,
        }
    }
}

fn conflict_title(what: &str) -> String {
    match what {
        "last_admin" => "the organisation would be left with members and no admin: make another member an admin first".into(),
        other => format!("{other} is already taken"),
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict(what) => AppError::Conflict(what),
            StoreError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "store unavailable");
                AppError::Unavailable
            }
            StoreError::Other(msg) => {
                tracing::error!(error = %msg, "store error");
                AppError::Internal
            }
        }
    }
}

impl From<Busy> for AppError {
    fn from(_: Busy) -> Self {
        AppError::Busy
    }
}

/// An RFC 9457 problem body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem kind (`about:blank` style tag).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human summary.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// Stable machine-readable code, e.g. `invalid_field`, `throttled`.
    pub code: String,
    /// More detail, when there is any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The offending field, for `invalid_field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait, for `throttled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::InvalidCredentials | AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Busy | AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Http { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (field, detail) = match self {
            AppError::InvalidField { field, message } => {
                (Some(field.to_string()), Some(message.clone()))
            }
            AppError::BadRequest(msg) => (None, Some(msg.clone())),
            _ => (None, None),
        };
        let retry_after = match self {
            AppError::Throttled { retry_after_secs } => Some(*retry_after_secs),
            AppError::Busy | AppError::Unavailable => Some(1),
            _ => None,
        };
        let body = Problem {
            kind: format!("https://conclave.dev/problems/{}", self.code()),
            title: match self {
                AppError::InvalidField { .. } => "invalid field".to_owned(),
                AppError::BadRequest(_) => "bad request".to_owned(),
                other => other.to_string(),
            },
            status: status.as_u16(),
            code: self.code().to_owned(),
            detail,
            field,
            retry_after,
        };
        let mut response = HttpResponse::build(status);
        response.content_type(PROBLEM_JSON);
        if let Some(secs) = retry_after {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if *self == AppError::Unauthorized {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(body)
    }
}

impl PartialEq for AppError {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code()
    }
}

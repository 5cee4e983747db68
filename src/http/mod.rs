//! The HTTP surface: health, readiness and metrics at the root, the REST API
//! under `/api/v1` (described by `/api/v1/openapi.json`). Every error, ours
//! or actix's (unknown route, wrong method, bad JSON), leaves as an
//! `application/problem+json` body.

mod accounts;
mod api_keys;
mod attendance;
pub(crate) mod auth;
mod client;
mod conferences;
mod contacts;
mod documents;
mod erasure;
mod export;
mod export_archive;
mod file_body;
mod health;
mod history;
mod join;
pub mod openapi;
mod organisations;
mod recordings;
mod reports;
mod retention;
pub(crate) mod summary;
mod waiting_room;
mod webhooks;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::JsonPayloadError;
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use crate::error::{AppError, PROBLEM_JSON};

/// Largest JSON body the API reads.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// Registers every route; used by the server and by nothing else.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BYTES)
            .error_handler(json_error),
    )
    .app_data(web::PathConfig::default().error_handler(|_, _| AppError::NotFound.into()))
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| AppError::BadRequest(e.to_string()).into()),
    )
    .configure(health::configure)
    .configure(client::configure)
    .service(
        web::scope("/api/v1")
            .configure(accounts::configure)
            .configure(conferences::configure)
            .configure(contacts::configure)
            .configure(history::configure)
            .configure(attendance::configure)
            .configure(reports::configure)
            .configure(documents::configure)
            .configure(recordings::configure)
            .configure(waiting_room::configure)
            .configure(api_keys::configure)
            .configure(webhooks::configure)
            .configure(export::configure)
            .configure(retention::configure)
            .configure(organisations::configure)
            .configure(summary::configure)
            .configure(join::configure)
            .configure(openapi::configure),
    );
}

/// The answer for a route that does not exist.
pub async fn not_found() -> HttpResponse {
    AppError::Http {
        status: actix_web::http::StatusCode::NOT_FOUND,
        code: "not_found",
        title: "no such route".into(),
    }
    .error_response()
}

/// Turns bodiless or plain-text error responses (wrong method, oversized
/// payload...) into problem bodies; ours already are and pass through.
pub fn problem_bodies<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_problem = res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
        if is_problem {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let code = match status.as_u16() {
            404 => "not_found",
            405 => "method_not_allowed",
            413 => "payload_too_large",
            415 => "unsupported_media_type",
            400..=499 => "bad_request",
            _ => "internal",
        };
        let problem: HttpResponse<BoxBody> = AppError::Http {
            status,
            code,
            title: status.canonical_reason().unwrap_or("error").to_lowercase(),
        }
        .error_response();
        let (req, _) = res.into_parts();
        let res: ServiceResponse<EitherBody<B>> =
            ServiceResponse::new(req, problem).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(res))
    })
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::http::StatusCode;
    let app = match &err {
        JsonPayloadError::ContentType => AppError::Http {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            title: "send the body as application/json".into(),
        },
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            AppError::Http {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "payload_too_large",
                title: format!("JSON bodies are at most {MAX_JSON_BYTES} bytes"),
            }
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            AppError::BadRequest(describe_data_error(e))
        }
        JsonPayloadError::Deserialize(_) => {
            AppError::BadRequest("the body is not valid JSON".into())
        }
        _ => AppError::BadRequest("the body could not be read".into()),
    };
    app.into()
}

/// serde's message without the offending value (which may be a password
/// sent with the wrong type): "invalid type: integer `5`, expected a
/// string" becomes "invalid type, expected a string".
pub(crate) fn describe_data_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg);
    // The uuid crate's message quotes the text it could not parse.
    if msg.starts_with("UUID parsing failed") {
        return "not a valid id".to_owned();
    }
    for kind in [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ] {
        if msg.starts_with(kind) {
            return match msg.find(", expected") {
                Some(i) => format!("{kind}{}", &msg[i..]),
                None => kind.to_owned(),
            };
        }
    }
    msg.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_do_not_echo_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct B {
            password: String,
        }
        let e = serde_json::from_str::<B>(r#"{"password": 123456789}"#).unwrap_err();
        let d = describe_data_error(&e);
        assert_eq!(d, "invalid type, expected a string");
        let e = serde_json::from_str::<B>("{}").unwrap_err();
        assert_eq!(describe_data_error(&e), "missing field `password`");
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct I {
            conference_id: uuid::Uuid,
            kind: K,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "snake_case")]
        enum K {
            A,
        }
        let e = serde_json::from_str::<I>(r#"{"conference_id": "nope", "kind": "a"}"#).unwrap_err();
        assert_eq!(describe_data_error(&e), "not a valid id");
        let id = uuid::Uuid::nil();
        let e =
            serde_json::from_str::<I>(&format!(r#"{{"conference_id": "{id}", "kind": "s3cret"}}"#))
                .unwrap_err();
        assert_eq!(describe_data_error(&e), "unknown variant, expected `a`");
    }
}

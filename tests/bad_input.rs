//! Bad input of every kind gets a 4xx problem body with a stable code and
//! changes nothing: malformed JSON, missing or wrongly typed fields,
//! overlong strings, unknown routes, wrong methods, oversized bodies, bad
//! tokens, someone else's conference.

mod common;

use common::{Backend, TestServer};
use serde_json::json;

on_both_stores!(actix: every_bad_request_gets_a_typed_4xx_and_changes_nothing);

/// (method, path, raw body, content type, token, expected status, expected code)
type Case<'a> = (
    &'a str,
    String,
    Option<String>,
    Option<&'a str>,
    Option<&'a str>,
    u16,
    &'a str,
);

async fn every_bad_request_gets_a_typed_4xx_and_changes_nothing(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, signed_up) = s.sign_up().await;
    let t = Some(token.as_str());
    let (_, other) = s.sign_up().await;
    let (_, other_conf) = s
        .call(
            "POST",
            "/api/v1/conferences",
            Some(json!({"title": "Theirs", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z", "security": {"mode": "none"}})),
            Some(other["session"]["token"].as_str().unwrap()),
        )
        .await;
    let theirs = format!("/api/v1/conferences/{}", other_conf["id"].as_str().unwrap());
    let long = "x".repeat(300);
    let huge = format!("{{\"title\": \"{}\"}}", "x".repeat(100 * 1024));
    let sched = |v: serde_json::Value| Some(v.to_string());
    let email = signed_up["account"]["email"].as_str().unwrap();

    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("POST", "/api/v1/accounts".into(), Some("{not json".into()), Some("application/json"), None, 400, "bad_request"),
        ("POST", "/api/v1/accounts".into(), Some("".into()), Some("application/json"), None, 400, "bad_request"),
        ("POST", "/api/v1/accounts".into(), Some("{}".into()), Some("application/json"), None, 400, "bad_request"),
        ("POST", "/api/v1/accounts".into(), sched(json!({"email": 5, "password": "x", "display_name": "y"})), Some("application/json"), None, 400, "bad_request"),
        ("POST", "/api/v1/accounts".into(), sched(json!({"email": "a@b.c", "password": "correct horse", "display_name": "y", "admin": true})), Some("application/json"), None, 400, "bad_request"),
        ("POST", "/api/v1/accounts".into(), sched(json!({"email": "not-an-email", "password": "correct horse", "display_name": "y"})), Some("application/json"), None, 422, "invalid_field"),
        ("POST", "/api/v1/accounts".into(), sched(json!({"email": "a@b.c", "password": "short", "display_name": "y"})), Some("application/json"), None, 422, "invalid_field"),
        ("POST", "/api/v1/accounts".into(), sched(json!({"email": "a@b.c", "password": long, "display_name": "y"})), Some("application/json"), None, 422, "invalid_field"),
        ("POST", "/api/v1/accounts".into(), sched(json!({"email": "a@b.c", "password": "correct horse", "display_name": long})), Some("application/json"), None, 422, "invalid_field"),
        ("POST", "/api/v1/accounts".into(), sched(json!({"email": email, "password": "correct horse", "display_name": "y"})), Some("application/json"), None, 409, "email_taken"),
        ("POST", "/api/v1/accounts".into(), Some("email=a".into()), Some("application/x-www-form-urlencoded"), None, 415, "unsupported_media_type"),
        ("POST", "/api/v1/conferences".into(), Some(huge), Some("application/json"), t, 413, "payload_too_large"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": "T", "starts_at": "tomorrow", "ends_at": "2031-01-01T10:00:00Z"})), Some("application/json"), t, 400, "bad_request"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": "T", "starts_at": "2031-01-01T10:00:00Z", "ends_at": "2031-01-01T09:00:00Z"})), Some("application/json"), t, 422, "invalid_field"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": "T", "starts_at": "2001-01-01T09:00:00Z", "ends_at": "2001-01-01T10:00:00Z"})), Some("application/json"), t, 422, "invalid_field"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": "T", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2033-01-01T10:00:00Z"})), Some("application/json"), t, 422, "invalid_field"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": long, "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z"})), Some("application/json"), t, 422, "invalid_field"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": "T", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z", "security": {"mode": "own"}})), Some("application/json"), t, 422, "invalid_field"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": "T", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z", "security": {"mode": "sometimes"}})), Some("application/json"), t, 422, "invalid_field"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": "T", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z", "security": {"mode": "own", "security_code": "12ab"}})), Some("application/json"), t, 422, "invalid_field"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": "T", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z"})), Some("application/json"), None, 401, "unauthorized"),
        ("POST", "/api/v1/conferences".into(), sched(json!({"title": "T", "starts_at": "2031-01-01T09:00:00Z", "ends_at": "2031-01-01T10:00:00Z"})), Some("application/json"), Some("forged-token"), 401, "unauthorized"),
        ("PUT", "/api/v1/account/default-security-code".into(), sched(json!({"security_code": "12"})), Some("application/json"), t, 422, "invalid_field"),
        ("PUT", "/api/v1/account/default-security-code".into(), sched(json!({"security_code": 1234})), Some("application/json"), t, 400, "bad_request"),
        ("GET", "/api/v1/conferences/not-a-uuid".into(), None, None, t, 404, "not_found"),
        ("GET", theirs.clone(), None, None, t, 404, "not_found"),
        ("PUT", format!("{theirs}/security-code"), sched(json!({"mode": "none"})), Some("application/json"), t, 404, "not_found"),
        ("GET", "/api/v1/nothing-here".into(), None, None, None, 404, "not_found"),
        ("GET", "/../../etc/passwd".into(), None, None, None, 404, "not_found"),
        ("DELETE", "/api/v1/accounts".into(), None, None, None, 405, "method_not_allowed"),
        ("GET", "/api/v1/sessions".into(), None, None, None, 405, "method_not_allowed"),
        ("PATCH", "/api/v1/account/line".into(), None, None, t, 405, "method_not_allowed"),
        ("POST", "/api/v1/join/check".into(), sched(json!({"access_code": "x".repeat(10_000)})), Some("application/json"), None, 401, "invalid_credentials"),
        ("POST", "/api/v1/join/check".into(), sched(json!({"security_code": "1"})), Some("application/json"), None, 400, "bad_request"),
    ];
    for (method, path, body, ct, token, status, code) in cases {
        let (got, problem) = s.raw(method, &path, body.as_deref(), ct, token).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {problem}"
        );
        assert_eq!(problem["status"], status, "{method} {path}");
    }

    // Nothing changed: one scheduled conference each, no new accounts, and
    // the forbidden write left the other account's conference as it was.
    let (_, list) = s.call("GET", "/api/v1/conferences", None, t).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "only the line: {list}");
    let (_, me) = s.call("GET", "/api/v1/account", None, t).await;
    assert_eq!(me["default_security_code"], false);
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/sessions",
            Some(json!({"email": "a@b.c", "password": "correct horse"})),
            None,
        )
        .await;
    assert_eq!(status, 401, "no account was created by a refused sign-up");
    let (_, theirs_now) = s
        .call(
            "GET",
            &theirs,
            None,
            Some(other["session"]["token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(theirs_now["security"], "none");
}

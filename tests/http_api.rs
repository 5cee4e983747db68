//! The REST API as a client uses it, against a real server on port 0, on
//! both stores: the README walk-through, sessions, operations endpoints.

mod common;

use common::{Backend, TestServer};
use serde_json::json;

on_both_stores!(actix:
    readme_walkthrough,
    sign_in_and_sign_out,
    sign_up_and_sign_in_put_the_token_in_the_same_place,
    health_readiness_metrics_and_openapi,
);

async fn readme_walkthrough(b: Backend) {
    let s = TestServer::start(b).await;
    // Sign up: the line and the moderator PIN come back once.
    let (token, signed_up) = s.sign_up().await;
    let pin = signed_up["moderator_pin"].as_str().unwrap().to_owned();
    assert!(pin.len() >= 6);
    let t = Some(token.as_str());
    let (status, line) = s.call("GET", "/api/v1/account/line", None, t).await;
    assert_eq!(status, 200);
    let code = line["access_code"].as_str().unwrap().to_owned();
    assert_eq!(code, signed_up["line"]["access_code"]);
    assert!(code.len() >= 10);
    assert_eq!(line["security_code_required"], false);

    // A default security code: the line needs it from now on.
    let (status, _) = s
        .call(
            "PUT",
            "/api/v1/account/default-security-code",
            Some(json!({"security_code": "2468"})),
            t,
        )
        .await;
    assert_eq!(status, 204);
    let (_, line) = s.call("GET", "/api/v1/account/line", None, t).await;
    assert_eq!(line["security_code_required"], true);
    let (_, me) = s.call("GET", "/api/v1/account", None, t).await;
    assert_eq!(me["default_security_code"], true);

    // Schedule a conference: its own one-time code, the default applied.
    let (status, conf) = s
        .call(
            "POST",
            "/api/v1/conferences",
            Some(json!({"title": "Board meeting", "starts_at": "2031-12-01T09:00:00Z", "ends_at": "2031-12-01T10:00:00Z"})),
            t,
        )
        .await;
    assert_eq!(status, 201, "{conf}");
    assert_eq!(conf["kind"], "scheduled");
    assert_eq!(conf["security"], "default");
    assert_ne!(conf["access_code"], line["access_code"]);
    let conf_code = conf["access_code"].as_str().unwrap().to_owned();
    let (_, list) = s.call("GET", "/api/v1/conferences", None, t).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (status, one) = s
        .call(
            "GET",
            &format!("/api/v1/conferences/{}", conf["id"].as_str().unwrap()),
            None,
            t,
        )
        .await;
    assert_eq!((status, &one["title"]), (200, &json!("Board meeting")));

    let check = |code: &str, security: Option<&str>, pin: Option<&str>| json!({"access_code": code, "security_code": security, "moderator_pin": pin});
    let (status, ok) = s
        .call(
            "POST",
            "/api/v1/join/check",
            Some(check(&conf_code, Some("2468"), Some(&pin))),
            None,
        )
        .await;
    assert_eq!((status, &ok["role"]), (200, &json!("moderator")));
    let (status, refused) = s
        .call(
            "POST",
            "/api/v1/join/check",
            Some(check(&conf_code, None, None)),
            None,
        )
        .await;
    assert_eq!(
        (status, &refused["code"]),
        (401, &json!("security_code_required"))
    );

    // Reset the moderator PIN: the old one is refused at once.
    let (status, reset) = s
        .call("POST", "/api/v1/account/line/moderator-pin/reset", None, t)
        .await;
    assert_eq!(status, 200);
    let new_pin = reset["moderator_pin"].as_str().unwrap();
    let (status, refused) = s
        .call(
            "POST",
            "/api/v1/join/check",
            Some(check(&code, Some("2468"), Some(&pin))),
            None,
        )
        .await;
    assert_eq!(
        (status, &refused["code"]),
        (401, &json!("invalid_moderator_pin"))
    );
    let (status, ok) = s
        .call(
            "POST",
            "/api/v1/join/check",
            Some(check(&code, Some("2468"), Some(new_pin))),
            None,
        )
        .await;
    assert_eq!((status, &ok["role"]), (200, &json!("moderator")));

    // Reset the access code: the old one is refused at once.
    let (status, reset) = s
        .call("POST", "/api/v1/account/line/access-code/reset", None, t)
        .await;
    assert_eq!(status, 200);
    let (status, refused) = s
        .call(
            "POST",
            "/api/v1/join/check",
            Some(check(&code, Some("2468"), None)),
            None,
        )
        .await;
    assert_eq!(
        (status, &refused["code"]),
        (401, &json!("invalid_credentials"))
    );
    let new_code = reset["access_code"].as_str().unwrap();
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/join/check",
            Some(check(new_code, Some("2468"), None)),
            None,
        )
        .await;
    assert_eq!(status, 200);

    // Change the scheduled conference's code at any time.
    let path = format!(
        "/api/v1/conferences/{}/security-code",
        conf["id"].as_str().unwrap()
    );
    let (status, changed) = s
        .call(
            "PUT",
            &path,
            Some(json!({"mode": "own", "security_code": "1357"})),
            t,
        )
        .await;
    assert_eq!((status, &changed["security"]), (200, &json!("own")));
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/join/check",
            Some(check(&conf_code, Some("2468"), None)),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/join/check",
            Some(check(&conf_code, Some("1357"), None)),
            None,
        )
        .await;
    assert_eq!(status, 200);
}

async fn sign_in_and_sign_out(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, signed_up) = s.sign_up().await;
    let email = signed_up["account"]["email"].as_str().unwrap();
    let (status, wrong) = s
        .call(
            "POST",
            "/api/v1/sessions",
            Some(json!({"email": email, "password": "not the password"})),
            None,
        )
        .await;
    let (status2, unknown) = s
        .call(
            "POST",
            "/api/v1/sessions",
            Some(json!({"email": "no@example.org", "password": "not the password"})),
            None,
        )
        .await;
    assert_eq!((status, status2), (401, 401));
    assert_eq!(
        wrong, unknown,
        "an unknown e-mail and a wrong password get the same answer"
    );
    let (status, session) = s
        .call(
            "POST",
            "/api/v1/sessions",
            Some(json!({"email": email, "password": "correct horse battery"})),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let token = session["token"].as_str().unwrap();
    assert_eq!(
        s.call("GET", "/api/v1/account", None, Some(token)).await.0,
        200
    );
    assert_eq!(
        s.call("DELETE", "/api/v1/sessions/current", None, Some(token))
            .await
            .0,
        204
    );
    let (status, body) = s.call("GET", "/api/v1/account", None, Some(token)).await;
    assert_eq!((status, &body["code"]), (401, &json!("unauthorized")));
    assert_eq!(
        s.call("DELETE", "/api/v1/sessions/current", None, Some(token))
            .await
            .0,
        401
    );
}

async fn sign_up_and_sign_in_put_the_token_in_the_same_place(b: Backend) {
    let s = TestServer::start(b).await;
    let (_, signed_up) = s.sign_up().await;
    let token = signed_up["token"].as_str().expect("sign-up answers .token");
    assert_eq!(
        signed_up["token"], signed_up["session"]["token"],
        "{signed_up}"
    );
    assert_eq!(signed_up["expires_at"], signed_up["session"]["expires_at"]);
    assert!(signed_up["expires_at"].is_string());
    assert_eq!(
        s.call("GET", "/api/v1/account", None, Some(token)).await.0,
        200
    );
    let email = signed_up["account"]["email"].as_str().unwrap();
    let (status, signed_in) = s
        .call(
            "POST",
            "/api/v1/sessions",
            Some(json!({"email": email, "password": "correct horse battery"})),
            None,
        )
        .await;
    assert_eq!(status, 201);
    assert!(signed_in["token"].is_string() && signed_in["expires_at"].is_string());
    assert_eq!(
        doc_ref(&s, "/api/v1/sessions", "post", "201").await,
        "#/components/schemas/SignedIn"
    );

    // The description says so too (the sign-in answer's schema once shared
    // its name with a history session's, which replaced it).
    let (_, doc) = s.call("GET", "/api/v1/openapi.json", None, None).await;
    for schema in ["SignUpResponse", "SignedIn"] {
        let required = doc["components"]["schemas"][schema]["required"]
            .as_array()
            .unwrap();
        for field in ["token", "expires_at"] {
            assert!(
                required.contains(&json!(field)),
                "{schema} lacks {field}: {}",
                doc["components"]["schemas"][schema]
            );
        }
    }
}

/// The schema an operation's answer refers to.
async fn doc_ref(s: &TestServer, path: &str, method: &str, status: &str) -> String {
    let (_, doc) = s.call("GET", "/api/v1/openapi.json", None, None).await;
    doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn health_readiness_metrics_and_openapi(b: Backend) {
    let s = TestServer::start(b).await;
    assert_eq!(
        s.call("GET", "/healthz", None, None).await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        s.call("GET", "/readyz", None, None).await,
        (200, json!({"status": "ok"}))
    );
    let (status, doc) = s.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/accounts",
        "/api/v1/sessions",
        "/api/v1/sessions/current",
        "/api/v1/account",
        "/api/v1/account/line",
        "/api/v1/account/line/access-code/reset",
        "/api/v1/account/line/moderator-pin/reset",
        "/api/v1/account/default-security-code",
        "/api/v1/conferences",
        "/api/v1/conferences/{id}",
        "/api/v1/conferences/{id}/security-code",
        "/api/v1/join/check",
        "/api/v1/conferences/{id}/recordings",
        "/api/v1/conferences/{id}/recordings/{recording}/{file}",
        "/api/v1/account/contacts",
        "/api/v1/conferences/{id}/sessions/{session}/attendance",
        "/api/v1/conferences/{id}/sessions/{session}/attendance.csv",
        "/api/v1/account/contacts/{id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let _ = s.call("GET", "/nope", None, None).await;
    let (status, text) = s.call("GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    let text = text.as_str().unwrap();
    assert!(
        text.contains("conclave_http_responses_total{class=\"2xx\"}"),
        "{text}"
    );
    assert!(
        text.contains("conclave_http_responses_total{class=\"4xx\"} 1"),
        "{text}"
    );
}

//! Organisations and their role matrix against a running server, on both
//! stores (docs/organisations.md). An admin invites by e-mail, the invitee
//! accepts; the admin then reads and deletes a member's reports and
//! summaries, while another member, another organisation's admin and
//! someone signed out are refused every reporting and deletion endpoint,
//! with the same answer as for a conference that does not exist (or 401),
//! and nothing changes. An organisation never loses its last admin while it
//! has members.

mod common;

use common::people::{join, meeting, person};
use common::{Backend, TestServer};
use serde_json::{json, Value};
use uuid::Uuid;

on_both_stores!(actix:
    the_role_matrix_holds_for_every_reporting_and_deletion_endpoint,
);

/// Status and problem code of a request.
async fn ask(
    s: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Option<String>) {
    let (status, body) = s.call(method, path, body, token).await;
    (status, body["code"].as_str().map(str::to_owned))
}

async fn the_role_matrix_holds_for_every_reporting_and_deletion_endpoint(b: Backend) {
    let s = TestServer::start(b).await;
    let admin = person(&s).await;
    let member = person(&s).await;
    let other_member = person(&s).await;
    let outsider = person(&s).await;
    assert_eq!(
        ask(
            &s,
            "PUT",
            "/api/v1/organisation",
            Some(json!({"name": "Acme"})),
            Some(&admin.token)
        )
        .await
        .0,
        204
    );
    join(&s, &admin, &member).await;
    join(&s, &admin, &other_member).await;
    let (_, org) = s
        .call("GET", "/api/v1/organisation", None, Some(&member.token))
        .await;
    assert_eq!(
        (
            org["name"].as_str(),
            org["role"].as_str(),
            org["own"].as_bool()
        ),
        (Some("Acme"), Some("member"), Some(false))
    );
    let (_, members) = s
        .call(
            "GET",
            "/api/v1/organisation/members",
            None,
            Some(&admin.token),
        )
        .await;
    let roles: Vec<(&str, &str)> = members
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["account"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(roles.len(), 3);
    assert_eq!(roles[0], (admin.id.as_str(), "admin"), "admins first");

    let session = meeting(&s, &member, &member.token).await;
    let c = &member.line;
    // A finished recording of the member's meeting, as the media plane leaves it.
    let rec = format!("{session}-1700000000000");
    let dir = s.data_dir().join("recordings").join(c).join(&rec);
    std::fs::create_dir_all(&dir).unwrap();
    let key = common::scan::summary_key(&s, session.parse().unwrap())
        .await
        .expect("the meeting's key is in its row");
    for f in ["a.ogg", "b.ogg"] {
        common::scan::write_sealed(&dir.join(f), key, b"voice");
    }
    let track = |file: &str| {
        json!({"file": file, "participant": Uuid::new_v4(), "source": "microphone", "codec": "opus",
               "packets": 1, "bytes": 5, "duration_ms": 20, "started_at_ms": 0, "ended_at_ms": 20})
    };
    std::fs::write(
        dir.join("manifest.json"),
        json!({"tracks": [track("a.ogg"), track("b.ogg")]}).to_string(),
    )
    .unwrap();

    let reading = [
        format!("/api/v1/conferences/{c}/sessions"),
        format!("/api/v1/conferences/{c}/audit"),
        format!("/api/v1/conferences/{c}/chat"),
        format!("/api/v1/conferences/{c}/sessions/{session}/attendance"),
        format!("/api/v1/conferences/{c}/sessions/{session}/attendance.csv"),
        format!("/api/v1/conferences/{c}/recordings"),
        format!("/api/v1/conferences/{c}/recordings/{rec}/a.ogg"),
    ];
    let missing = Uuid::new_v4();
    let deleting: [(&str, String, Option<Value>); 4] = [
        (
            "DELETE",
            format!("/api/v1/conferences/{c}/recordings/{rec}/a.ogg"),
            None,
        ),
        (
            "DELETE",
            format!("/api/v1/conferences/{c}/recordings/{rec}"),
            None,
        ),
        (
            "POST",
            "/api/v1/account/erasures".into(),
            Some(json!({"conference": c, "name": "Grace, chair"})),
        ),
        ("DELETE", format!("/api/v1/conferences/{c}/history"), None),
    ];
    // The answer for a conference that does not exist, for each shape.
    let absent = |path: &str| path.replace(c.as_str(), &missing.to_string());
    let mut refused = 0;
    for (who, token) in [
        ("another member", Some(other_member.token.as_str())),
        (
            "another organisation's admin",
            Some(outsider.token.as_str()),
        ),
        ("signed out", None),
    ] {
        for path in &reading {
            let got = ask(&s, "GET", path, None, token).await;
            let want = match token {
                Some(_) => ask(&s, "GET", &absent(path), None, token).await,
                None => (401, Some("unauthorized".into())),
            };
            assert_eq!(got, want, "{who}: GET {path}");
            assert!(got.0 == 404 || got.0 == 401);
            refused += 1;
        }
        for (method, path, body) in &deleting {
            let got = ask(&s, method, path, body.clone(), token).await;
            let want = match token {
                Some(_) => {
                    let body = body
                        .clone()
                        .map(|b| json!({"conference": missing, "name": b["name"]}));
                    ask(&s, method, &absent(path), body, token).await
                }
                None => (401, Some("unauthorized".into())),
            };
            assert_eq!(got, want, "{who}: {method} {path}");
            refused += 1;
        }
        // Reports across the organisation: a member is refused; another
        // organisation's admin sees only its own.
        let (status, page) = s
            .call(
                "GET",
                "/api/v1/reports/sessions?scope=organisation",
                None,
                token,
            )
            .await;
        match who {
            "another member" => {
                assert_eq!((status, page["code"].as_str()), (404, Some("not_found")))
            }
            "another organisation's admin" => {
                assert_eq!(status, 200);
                assert!(page["sessions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m["conference"] != c.as_str()));
            }
            _ => assert_eq!(status, 401),
        }
        refused += 1;
    }
    assert_eq!(refused, 3 * (reading.len() + deleting.len() + 1));
    // Nothing changed: the member still has everything.
    for path in &reading {
        let (status, _) = s.call("GET", path, None, Some(&member.token)).await;
        assert_eq!(status, 200, "the owner reads {path}");
    }
    assert!(dir.join("a.ogg").exists() && dir.join("b.ogg").exists());

    // The organisation's admin: every report of the member, then each
    // deletion.
    for path in &reading {
        let (status, _) = s.call("GET", path, None, Some(&admin.token)).await;
        assert_eq!(status, 200, "the admin reads {path}");
    }
    let (_, page) = s
        .call(
            "GET",
            "/api/v1/reports/sessions?scope=organisation",
            None,
            Some(&admin.token),
        )
        .await;
    let theirs: Vec<&Value> = page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["conference"] == c.as_str())
        .collect();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["owner"], member.id.as_str());
    let (_, own) = s
        .call("GET", "/api/v1/reports/sessions", None, Some(&admin.token))
        .await;
    assert!(
        own["sessions"].as_array().unwrap().is_empty(),
        "without scope, the admin's own meetings only"
    );
    let expected = [204, 204, 200, 200];
    for ((method, path, body), want) in deleting.iter().zip(expected) {
        let (status, answer) = s.call(method, path, body.clone(), Some(&admin.token)).await;
        assert_eq!(status, want, "the admin: {method} {path}: {answer}");
    }
    assert!(!dir.exists(), "the recording is gone");
    let (_, sessions) = s
        .call(
            "GET",
            &format!("/api/v1/conferences/{c}/sessions"),
            None,
            Some(&member.token),
        )
        .await;
    assert_eq!(sessions, json!([]), "the summary is gone");

    // Admin-only organisation endpoints: a member is refused as if they
    // did not exist; nobody reaches another organisation's members.
    for (method, path, body) in [
        ("GET", "/api/v1/organisation/members".to_owned(), None),
        ("GET", "/api/v1/organisation/invitations".to_owned(), None),
        (
            "POST",
            "/api/v1/organisation/invitations".to_owned(),
            Some(json!({"email": "x@example.org"})),
        ),
        (
            "PUT",
            "/api/v1/organisation".to_owned(),
            Some(json!({"name": "Mine now"})),
        ),
        (
            "PUT",
            format!("/api/v1/organisation/members/{}", admin.id),
            Some(json!({"role": "member"})),
        ),
        (
            "DELETE",
            format!("/api/v1/organisation/members/{}", admin.id),
            None,
        ),
    ] {
        assert_eq!(
            ask(&s, method, &path, body.clone(), Some(&member.token)).await,
            (404, Some("not_found".into())),
            "a member: {method} {path}"
        );
        assert_eq!(ask(&s, method, &path, body, None).await.0, 401);
    }
    assert_eq!(
        ask(
            &s,
            "DELETE",
            &format!("/api/v1/organisation/members/{}", member.id),
            None,
            Some(&outsider.token)
        )
        .await,
        (404, Some("not_found".into())),
        "another organisation's admin cannot remove a member"
    );

    // Nobody leaves their own organisation; its last admin stays while it
    // has members.
    let me = format!("/api/v1/organisation/members/{}", admin.id);
    assert_eq!(
        ask(&s, "DELETE", &me, None, Some(&admin.token)).await,
        (404, Some("not_found".into()))
    );
    assert_eq!(
        ask(
            &s,
            "PUT",
            &me,
            Some(json!({"role": "member"})),
            Some(&admin.token)
        )
        .await,
        (409, Some("last_admin".into()))
    );
    // A file of the admin's own line, which a refused deletion keeps.
    let kept = s
        .data_dir()
        .join("recordings")
        .join(&admin.line)
        .join("kept");
    std::fs::create_dir_all(&kept).unwrap();
    let (status, problem) = s
        .call(
            "DELETE",
            "/api/v1/account",
            Some(json!({"password": "correct horse battery"})),
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("last_admin")),
        "{problem}"
    );
    assert!(kept.exists(), "nothing was deleted");
    assert_eq!(
        s.call("GET", "/api/v1/account", None, Some(&admin.token))
            .await
            .0,
        200,
        "the account still works"
    );
    // Another admin first: then the first may step down to member.
    let them = format!("/api/v1/organisation/members/{}", member.id);
    assert_eq!(
        ask(
            &s,
            "PUT",
            &them,
            Some(json!({"role": "admin"})),
            Some(&admin.token)
        )
        .await
        .0,
        204
    );
    assert_eq!(
        ask(
            &s,
            "PUT",
            &me,
            Some(json!({"role": "member"})),
            Some(&admin.token)
        )
        .await
        .0,
        204
    );
    let (_, now) = s
        .call("GET", "/api/v1/organisation", None, Some(&admin.token))
        .await;
    assert_eq!(
        (now["own"].as_bool(), now["role"].as_str()),
        (Some(true), Some("member"))
    );
    // The other member is in Acme until its new admin removes it.
    let (_, before) = s
        .call(
            "GET",
            "/api/v1/organisation",
            None,
            Some(&other_member.token),
        )
        .await;
    assert_eq!(before["own"], false);
    // The new admin removes the other member, who goes back to its own.
    let gone = format!("/api/v1/organisation/members/{}", other_member.id);
    assert_eq!(
        ask(&s, "DELETE", &gone, None, Some(&member.token)).await.0,
        204
    );
    let (_, theirs) = s
        .call(
            "GET",
            "/api/v1/organisation",
            None,
            Some(&other_member.token),
        )
        .await;
    assert_eq!(theirs["own"], true);
    assert_eq!(
        ask(
            &s,
            "PUT",
            &them,
            Some(json!({"role": "owner"})),
            Some(&member.token)
        )
        .await,
        (422, Some("invalid_field".into()))
    );
}

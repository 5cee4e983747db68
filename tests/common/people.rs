//! People for the organisation tests: an account with its line, joining
//! another's organisation by invitation, and a finished meeting.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::json;

use super::{TestServer, Ws};

pub struct Person {
    pub token: String,
    pub id: String,
    pub email: String,
    pub code: String,
    pub pin: String,
    pub line: String,
}

pub async fn person(s: &TestServer) -> Person {
    let (token, body) = s.sign_up().await;
    Person {
        id: body["account"]["id"].as_str().unwrap().to_owned(),
        email: body["account"]["email"].as_str().unwrap().to_owned(),
        code: body["line"]["access_code"].as_str().unwrap().to_owned(),
        pin: body["moderator_pin"].as_str().unwrap().to_owned(),
        line: body["line"]["id"].as_str().unwrap().to_owned(),
        token,
    }
}

/// `who` joins the organisation of `admin` through an invitation.
pub async fn join(s: &TestServer, admin: &Person, who: &Person) {
    let (status, invitation) = s
        .call(
            "POST",
            "/api/v1/organisation/invitations",
            Some(json!({"email": who.email.to_uppercase()})),
            Some(&admin.token),
        )
        .await;
    assert_eq!(status, 201, "{invitation}");
    let (_, mine) = s
        .call("GET", "/api/v1/account/invitations", None, Some(&who.token))
        .await;
    let found = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == invitation["id"])
        .expect("the invitee sees it");
    assert_eq!(found["organisation_name"], "Acme");
    let id = invitation["id"].as_str().unwrap();
    let (status, _) = s
        .call(
            "POST",
            &format!("/api/v1/account/invitations/{id}/accept"),
            None,
            Some(&who.token),
        )
        .await;
    assert_eq!(status, 204);
}

/// A finished meeting on `owner`'s line with a chat message and a lock;
/// answers its session id.
pub async fn meeting(s: &TestServer, owner: &Person, token: &str) -> String {
    let mut chair = Ws::connect(s).await;
    chair
        .join(&owner.code, None, Some(&owner.pin), "Grace, chair")
        .await;
    assert_eq!(
        chair
            .ask(json!({"type": "chat", "text": "private minutes"}))
            .await["type"],
        "ack"
    );
    assert_eq!(chair.ask(json!({"type": "lock"})).await["type"], "ack");
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, sessions) = s
            .call(
                "GET",
                &format!("/api/v1/conferences/{}/sessions", owner.line),
                None,
                Some(token),
            )
            .await;
        let (_, audit) = s
            .call(
                "GET",
                &format!("/api/v1/conferences/{}/audit", owner.line),
                None,
                Some(token),
            )
            .await;
        if let Some(session) = sessions
            .as_array()
            .and_then(|a| a.iter().find(|x| !x["ended_at"].is_null()))
        {
            if audit.as_array().is_some_and(|a| !a.is_empty()) {
                return session["id"].as_str().unwrap().to_owned();
            }
        }
        assert!(Instant::now() < deadline, "the meeting is written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

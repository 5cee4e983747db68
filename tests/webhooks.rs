//! Webhooks against a running server, on both stores, with a receiver that
//! is a small HTTP server in the test: every event of a scripted meeting
//! arrives exactly once, in order, with a valid Standard Webhooks
//! signature; deliveries survive a 30 s receiver outage and a server
//! restart; a delivery that keeps failing is kept to inspect and can be
//! sent again; URLs that point inside the server's network are refused.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use common::TcpProxy;
use common::{eventually, owned_line_with_security, Backend, TestServer, Ws};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

on_both_stores!(actix:
    a_meeting_is_told_once_in_order_and_signed,
    deliveries_outlast_a_receiver_outage_and_a_server_restart,
    a_failing_delivery_is_kept_and_can_be_sent_again,
    a_newcomer_waiting_and_admitted_is_told,
    urls_inside_the_network_and_other_accounts_are_refused,
);

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Ok,
    Fail,
}

/// What the receiver got: (webhook-id, parsed body), in arrival order.
#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<(String, Value)>>>,
    mode: Arc<Mutex<Mode>>,
    secret: Arc<Mutex<String>>,
    port: u16,
}

async fn receive(req: HttpRequest, body: web::Bytes, r: web::Data<Receiver>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, ts, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    // Verified as a receiver would, from the specification alone.
    let secret = r.secret.lock().unwrap().clone();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("a whsec_ secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert_eq!(signature, expected, "the signature verifies");
    let sent: i64 = ts.parse().expect("a numeric timestamp");
    assert!(
        (chrono::Utc::now().timestamp() - sent).abs() < 60,
        "a fresh timestamp"
    );
    assert_eq!(header("content-type"), "application/json");
    if *r.mode.lock().unwrap() == Mode::Fail {
        return HttpResponse::InternalServerError().finish();
    }
    let value: Value = serde_json::from_slice(&body).expect("a JSON body");
    assert_eq!(value["id"], id.as_str(), "the body names the webhook-id");
    r.got.lock().unwrap().push((id, value));
    HttpResponse::NoContent().finish()
}

impl Receiver {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let r = Receiver {
            got: Default::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            secret: Default::default(),
            port: listener.local_addr().unwrap().port(),
        };
        let data = web::Data::new(r.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        r
    }

    fn got(&self) -> Vec<(String, Value)> {
        self.got.lock().unwrap().clone()
    }

    fn types(&self) -> Vec<String> {
        self.got()
            .iter()
            .map(|(_, v)| v["type"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A server that sends webhooks to the test's loopback receiver, quickly:
/// retries from `first_retry_ms` up to ten times that apart.
async fn start_retrying(b: Backend, first_retry_ms: u64, max_attempts: u32) -> TestServer {
    TestServer::start_with(
        b,
        |c| {
            c.webhooks.allow_http = true;
            c.webhooks.allow_private_addresses = true;
            c.webhooks.poll_ms = 50;
            c.webhooks.first_retry_ms = first_retry_ms;
            c.webhooks.max_retry_ms = first_retry_ms * 10;
            c.webhooks.max_attempts = max_attempts;
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await
}

async fn start(b: Backend) -> TestServer {
    // Enough attempts to outlast the 30 s outage at 2 s apart.
    start_retrying(b, 200, 100).await
}

/// Adds an endpoint for every event; the receiver learns its secret.
async fn subscribe(s: &TestServer, token: &str, r: &Receiver, port: u16) -> Value {
    let (status, created) = s
        .call(
            "POST",
            "/api/v1/account/webhooks",
            Some(json!({"url": format!("http://127.0.0.1:{port}/hooks"), "events": conclave::webhooks::EVENT_TYPES})),
            Some(token),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    *r.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();
    created
}

/// Two people meet, the chair locks and unlocks, both leave.
async fn meeting(s: &TestServer, code: &str, pin: &str) {
    let mut chair = Ws::connect(s).await;
    assert_eq!(
        chair.join(code, Some("2468"), Some(pin), "Chair").await["type"],
        "joined"
    );
    let mut guest = Ws::connect(s).await;
    assert_eq!(
        guest.join(code, Some("2468"), None, "Guest, Esq.").await["type"],
        "joined"
    );
    assert_eq!(chair.ask(json!({"type": "lock"})).await["type"], "ack");
    assert_eq!(chair.ask(json!({"type": "unlock"})).await["type"], "ack");
    assert_eq!(guest.ask(json!({"type": "leave"})).await["type"], "ack");
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");
}

const MEETING: [&str; 8] = [
    "conference.started",
    "participant.joined",
    "participant.joined",
    "moderator.action",
    "moderator.action",
    "participant.left",
    "participant.left",
    "conference.ended",
];

fn assert_once(r: &Receiver) {
    let mut ids: Vec<_> = r.got().into_iter().map(|(id, _)| id).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "no event arrives twice: {:?}", r.types());
}

async fn a_meeting_is_told_once_in_order_and_signed(b: Backend) {
    let s = start(b).await;
    let r = Receiver::start();
    let (token, code, pin) = owned_line_with_security(&s).await;
    let endpoint = subscribe(&s, &token, &r, r.port).await;
    assert!(endpoint["secret"].as_str().unwrap().starts_with("whsec_"));
    meeting(&s, &code, &pin).await;
    eventually(20, "the whole meeting arrives", || async {
        (r.got().len() >= MEETING.len()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.types(), MEETING);
    assert_once(&r);
    let got = r.got();
    assert_eq!(got[2].1["data"]["name"], "Guest, Esq.");
    assert_eq!(got[3].1["data"]["action"], "lock");
    assert_eq!(got[3].1["data"]["actor"], got[1].1["data"]["participant"]);
    assert_eq!(got[5].1["data"]["reason"], "left");
    let conference = &got[0].1["data"]["conference"];
    assert!(got
        .iter()
        .all(|(_, v)| v["data"]["conference"] == *conference));

    // The account sees each delivery, delivered at the first attempt; the
    // secret is never shown again.
    let (status, list) = s
        .call("GET", "/api/v1/account/webhooks", None, Some(&token))
        .await;
    assert_eq!(status, 200);
    assert!(!list.to_string().contains("whsec_"), "{list}");
    let id = endpoint["id"].as_str().unwrap();
    let (status, deliveries) = s
        .call(
            "GET",
            &format!("/api/v1/account/webhooks/{id}/deliveries"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(status, 200, "{deliveries}");
    let rows = deliveries.as_array().unwrap();
    assert_eq!(rows.len(), MEETING.len());
    assert!(
        rows.iter()
            .all(|d| d["state"] == "delivered" && d["attempts"] == 1 && d["last_status"] == 204),
        "{deliveries}"
    );
    assert_eq!(rows[0]["type"], "conference.ended", "newest first");

    // Deleting the summary is told too.
    let (status, _) = s
        .call(
            "DELETE",
            &format!(
                "/api/v1/conferences/{}/history",
                conference.as_str().unwrap()
            ),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(status, 200);
    eventually(10, "summary.deleted arrives", || async {
        r.types()
            .last()
            .is_some_and(|t| t == "summary.deleted")
            .then_some(())
    })
    .await;

    // A deleted endpoint hears nothing more.
    let (status, _) = s
        .call(
            "DELETE",
            &format!("/api/v1/account/webhooks/{id}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(status, 204);
    let before = r.got().len();
    let mut ws = Ws::connect(&s).await;
    assert_eq!(
        ws.join(&code, Some("2468"), None, "Late").await["type"],
        "joined"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(r.got().len(), before);
}

async fn deliveries_outlast_a_receiver_outage_and_a_server_restart(b: Backend) {
    let s = start(b).await;
    let r = Receiver::start();
    let proxy = TcpProxy::start(([127, 0, 0, 1], r.port).into()).await;
    let (token, code, pin) = owned_line_with_security(&s).await;
    subscribe(&s, &token, &r, proxy.port).await;
    let outage = std::time::Instant::now();
    proxy.down();
    meeting(&s, &code, &pin).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = s.restart().await;
    meeting(&s, &code, &pin).await;
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed())).await;
    assert!(r.got().is_empty(), "nothing arrived during the outage");
    proxy.up();
    let both: Vec<&str> = MEETING.iter().chain(MEETING.iter()).copied().collect();
    let arrived = tokio::time::timeout(Duration::from_secs(30), async {
        while r.got().len() < both.len() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        arrived.is_ok(),
        "both meetings arrive after the outage: {:?}",
        r.types()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.types(), both);
    assert_once(&r);
    let sessions: Vec<_> = r
        .got()
        .iter()
        .map(|(_, v)| v["data"]["session"].clone())
        .collect();
    assert!(sessions[..8].iter().all(|x| *x == sessions[0]));
    assert!(sessions[8..]
        .iter()
        .all(|x| *x == sessions[8] && *x != sessions[0]));
}

async fn a_failing_delivery_is_kept_and_can_be_sent_again(b: Backend) {
    let s = start_retrying(b, 100, 3).await;
    let r = Receiver::start();
    *r.mode.lock().unwrap() = Mode::Fail;
    let (token, code, _) = owned_line_with_security(&s).await;
    let (status, created) = s
        .call(
            "POST",
            "/api/v1/account/webhooks",
            Some(json!({"url": format!("http://127.0.0.1:{}/in", r.port), "events": ["participant.joined", "participant.joined"]})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["events"], json!(["participant.joined"]));
    *r.secret.lock().unwrap() = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let mut ws = Ws::connect(&s).await;
    assert_eq!(
        ws.join(&code, Some("2468"), None, "Ann").await["type"],
        "joined"
    );
    let mut bob = Ws::connect(&s).await;
    assert_eq!(
        bob.join(&code, Some("2468"), None, "Bob").await["type"],
        "joined"
    );
    let path = format!("/api/v1/account/webhooks/{id}/deliveries");
    let rows = eventually(15, "the deliveries give up", || async {
        let (_, rows) = s.call("GET", &path, None, Some(&token)).await;
        let all = rows.as_array()?;
        (all.len() == 2 && all.iter().all(|d| d["state"] == "failed")).then_some(rows)
    })
    .await;
    assert_eq!(
        rows.as_array().unwrap().len(),
        2,
        "only the wanted type: {rows}"
    );
    // Ann's was tried and given up on; Bob's, waiting behind it, went with it.
    let (bob_row, failed) = (&rows[0], &rows.as_array().unwrap()[1..]);
    assert_eq!(failed[0]["attempts"], 3);
    assert_eq!(failed[0]["last_status"], 500);
    assert_eq!(failed[0]["last_error"], "answered 500");
    assert_eq!(bob_row["attempts"], 0, "{rows}");
    assert_eq!(
        bob_row["last_error"],
        "not sent: an earlier delivery to this endpoint failed for good"
    );
    assert!(r.got().is_empty());

    *r.mode.lock().unwrap() = Mode::Ok;
    let seq = failed[0]["seq"].as_i64().unwrap();
    let (status, _) = s
        .call("POST", &format!("{path}/{seq}/retry"), None, Some(&token))
        .await;
    assert_eq!(status, 204);
    eventually(10, "the retried delivery arrives", || async {
        (r.got().len() == 1).then_some(())
    })
    .await;
    assert_eq!(
        r.got()[0].0,
        failed[0]["event_id"].as_str().unwrap(),
        "the same webhook-id"
    );
    let (status, _) = s
        .call("POST", &format!("{path}/{seq}/retry"), None, Some(&token))
        .await;
    assert_eq!(status, 404, "only a failed delivery is sent again");
}

async fn urls_inside_the_network_and_other_accounts_are_refused(b: Backend) {
    // The default policy: public HTTPS only.
    let s = TestServer::start(b).await;
    let (token, _) = s.sign_up().await;
    for (url, events) in [
        ("http://hooks.example.com/x", json!(["participant.joined"])),
        ("https://127.0.0.1/x", json!(["participant.joined"])),
        (
            "https://169.254.169.254/latest",
            json!(["participant.joined"]),
        ),
        ("https://[::1]:8443/x", json!(["participant.joined"])),
        ("https://localhost/x", json!(["participant.joined"])),
        (
            "https://user:pw@hooks.example.com/",
            json!(["participant.joined"]),
        ),
        ("https://hooks.example.com/x", json!([])),
        (
            "https://hooks.example.com/x",
            json!(["participant.sneezed"]),
        ),
    ] {
        let (status, body) = s
            .call(
                "POST",
                "/api/v1/account/webhooks",
                Some(json!({"url": url, "events": events})),
                Some(&token),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("invalid_field")),
            "{url}: {body}"
        );
    }
    let (status, created) = s
        .call(
            "POST",
            "/api/v1/account/webhooks",
            Some(json!({"url": "https://93.184.216.34/hook", "events": ["conference.started"]})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();

    // Another account sees nothing of it and cannot touch it.
    let (other, _) = s.sign_up().await;
    let (_, list) = s
        .call("GET", "/api/v1/account/webhooks", None, Some(&other))
        .await;
    assert_eq!(list, json!([]));
    for (method, path) in [
        ("DELETE", format!("/api/v1/account/webhooks/{id}")),
        ("GET", format!("/api/v1/account/webhooks/{id}/deliveries")),
        (
            "POST",
            format!("/api/v1/account/webhooks/{id}/deliveries/1/retry"),
        ),
    ] {
        let (status, _) = s.call(method, &path, None, Some(&other)).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    let (status, _) = s.call("GET", "/api/v1/account/webhooks", None, None).await;
    assert_eq!(status, 401);

    // At most ten per account.
    for _ in 1..10 {
        let (status, _) = s
            .call(
                "POST",
                "/api/v1/account/webhooks",
                Some(json!({"url": "https://93.184.216.34/h", "events": ["conference.started"]})),
                Some(&token),
            )
            .await;
        assert_eq!(status, 201);
    }
    let (status, body) = s
        .call(
            "POST",
            "/api/v1/account/webhooks",
            Some(json!({"url": "https://93.184.216.34/h", "events": ["conference.started"]})),
            Some(&token),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("too_many_endpoints")),
        "{body}"
    );
}

async fn a_newcomer_waiting_and_admitted_is_told(b: Backend) {
    let s = start(b).await;
    let r = Receiver::start();
    let (token, code, pin) = owned_line_with_security(&s).await;
    subscribe(&s, &token, &r, r.port).await;
    let mut chair = Ws::connect(&s).await;
    assert_eq!(
        chair.join(&code, Some("2468"), Some(&pin), "Chair").await["type"],
        "joined"
    );
    let set = chair
        .ask(json!({"type": "set_waiting_room", "setting": "everyone"}))
        .await;
    assert_eq!(set["type"], "ack", "{set}");
    let mut ada = Ws::connect(&s).await;
    let waiting = ada.join(&code, Some("2468"), None, "Ada").await;
    assert_eq!(waiting["type"], "waiting", "{waiting}");
    let ada_id = waiting["participant"].clone();
    let admit = chair
        .ask(json!({"type": "admit", "participant": ada_id}))
        .await;
    assert_eq!(admit["type"], "ack", "{admit}");
    ada.until("joined").await;
    eventually(10, "the wait and the admission arrive", || async {
        (r.got().len() >= 6).then_some(())
    })
    .await;
    let got = r.got();
    assert_eq!(
        r.types(),
        [
            "conference.started",
            "participant.joined",
            "moderator.action",
            "waiting_room.entered",
            "moderator.action",
            "participant.joined",
        ]
    );
    assert_eq!(got[2].1["data"]["action"], "set_waiting_room");
    assert_eq!(got[3].1["data"]["name"], "Ada");
    assert_eq!(got[3].1["data"]["reason"], "setting");
    assert_eq!(got[3].1["data"]["participant"], ada_id);
    assert_eq!(got[4].1["data"]["action"], "admit");
    assert_eq!(got[5].1["data"]["participant"], ada_id);
}

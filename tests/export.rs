//! The account export against a running server, on both stores: one tar
//! archive with the account, its conferences, contacts, keys, webhooks,
//! every meeting's attendance, audit and chat as JSON, its finished
//! recordings' files, and a manifest whose sizes and SHA-256 sums match;
//! nothing of another account; only for the signed-in owner. And the
//! erasure of one person from the summaries, by number or by name.

mod common;

use std::collections::HashMap;
use std::io::Read;

use common::{owned_line_with_security, Backend, TestServer, Ws};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

on_both_stores!(actix:
    an_account_exports_everything_it_holds,
    a_long_history_exports_whole_and_in_order_with_the_shared_documents,
    a_person_is_erased_from_the_summaries,
);

/// The archive's entries by path, after checking every one against the
/// manifest and that the manifest lists them all.
fn unpack(archive: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    let mut reader = tar::Archive::new(archive);
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(path, bytes);
    }
    let manifest: Value = serde_json::from_slice(&files["conclave-export/manifest.json"]).unwrap();
    for e in manifest["entries"].as_array().unwrap() {
        let bytes = &files[&format!("conclave-export/{}", e["path"].as_str().unwrap())];
        assert_eq!(e["bytes"], bytes.len() as u64, "{e}");
        assert_eq!(e["sha256"], hex::encode(Sha256::digest(bytes)), "{e}");
    }
    assert_eq!(
        manifest["entries"].as_array().unwrap().len() + 1,
        files.len(),
        "the manifest lists every entry"
    );
    files
}

async fn download(s: &TestServer, token: &str) -> (u16, Vec<u8>, String) {
    let mut res = awc::Client::new()
        .get(s.url("/api/v1/account/export"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.body().limit(64 << 20).await.unwrap().to_vec();
    (res.status().as_u16(), body, kind)
}

async fn an_account_exports_everything_it_holds(b: Backend) {
    let s = TestServer::start(b).await;
    let (token, code, pin) = owned_line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    let joined = chair
        .join(&code, Some("2468"), Some(&pin), "Chair, \"the\" first")
        .await;
    let conference = joined["conference"].as_str().unwrap().to_owned();
    assert_eq!(
        chair
            .ask(json!({"type": "chat", "text": "minutes of the meeting"}))
            .await["type"],
        "ack"
    );
    assert_eq!(chair.ask(json!({"type": "lock"})).await["type"], "ack");
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");
    let (status, _) = s
        .call(
            "POST",
            "/api/v1/account/api-keys",
            Some(json!({"name": "portal"})),
            Some(&token),
        )
        .await;
    assert_eq!(status, 201);
    // A finished recording, as the media plane leaves it.
    let rec = s
        .data_dir()
        .join("recordings")
        .join(&conference)
        .join("0b4f2a9e-0000-4000-8000-000000000001-1700000000000");
    std::fs::create_dir_all(&rec).unwrap();
    let audio: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(rec.join("p-microphone-1.ogg"), &audio).unwrap();
    std::fs::write(rec.join("../../../stray"), b"not listed").unwrap();
    std::fs::write(
        rec.join("manifest.json"),
        json!({"tracks": [{"file": "p-microphone-1.ogg"}, {"file": "../../../stray"}]}).to_string(),
    )
    .unwrap();
    // Another account, whose data must not appear.
    let (_, other_code, other_pin) = owned_line_with_security(&s).await;
    let mut other = Ws::connect(&s).await;
    other
        .join(&other_code, Some("2468"), Some(&other_pin), "Other")
        .await;
    assert_eq!(
        other
            .ask(json!({"type": "chat", "text": "someone else's words"}))
            .await["type"],
        "ack"
    );

    let (status, archive, kind) = download(&s, &token).await;
    assert_eq!((status, kind.as_str()), (200, "application/x-tar"));
    let files = unpack(&archive);
    let json = |name: &str| -> Value {
        serde_json::from_slice(
            files
                .get(&format!("conclave-export/{name}"))
                .unwrap_or_else(|| panic!("{name} in {:?}", files.keys())),
        )
        .unwrap()
    };
    assert!(json("account.json")["email"]
        .as_str()
        .unwrap()
        .contains('@'));
    assert_eq!(json("conferences.json")[0]["id"], conference.as_str());
    assert_eq!(json("api_keys.json")[0]["name"], "portal");
    let prefix = format!("conferences/{conference}");
    let sessions = json(&format!("{prefix}/sessions.json"));
    assert_eq!(sessions[0]["attendance"][0]["name"], "Chair, \"the\" first");
    assert_eq!(
        json(&format!("{prefix}/chat.json"))[0]["text"],
        "minutes of the meeting"
    );
    assert_eq!(json(&format!("{prefix}/audit.json"))[0]["action"], "lock");
    let recorded = format!("conclave-export/{prefix}/recordings/0b4f2a9e-0000-4000-8000-000000000001-1700000000000/p-microphone-1.ogg");
    assert_eq!(files[&recorded], audio, "the recording's bytes");
    let all = String::from_utf8_lossy(&archive);
    assert!(
        !all.contains("someone else's words"),
        "nothing of another account"
    );
    assert!(
        !all.contains("not listed"),
        "only files a manifest lists, by plain names"
    );
    assert!(!all.contains("argon2"), "no password or PIN hash");

    let (status, _, _) = download(&s, "not-a-token").await;
    assert_eq!(status, 401);
}

/// More meetings than the export reads in one page (250), written straight
/// into the store as the persister would, and a meeting under way with a
/// shared document: every row comes out once, in order, and the document
/// still shared comes with its bytes.
async fn a_long_history_exports_whole_and_in_order_with_the_shared_documents(b: Backend) {
    use conclave::store::Record::*;
    const MEETINGS: i64 = 620;
    let s = TestServer::start(b).await;
    let (token, body) = s.sign_up().await;
    let line: uuid::Uuid = body["line"]["id"].as_str().unwrap().parse().unwrap();
    let store = conclave::store::open(s.config()).await.unwrap();
    let mut records = Vec::new();
    for i in 0..MEETINGS {
        let (session, person, document) = (
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4(),
        );
        let at = 1_700_000_000_000 + i * 3_600_000;
        records.extend([
            SessionStarted {
                session,
                conference: line,
                node: uuid::Uuid::nil(),
                data_key: None,
                at,
            },
            Joined {
                participant: person,
                session,
                name: format!("Guest {i}"),
                endpoint: "web",
                phone_sealed: None,
                role: "participant",
                at: at + 1,
            },
            ChatPosted {
                id: uuid::Uuid::new_v4(),
                conference: line,
                session,
                sender: person,
                sender_name: format!("Guest {i}"),
                text: format!("message {i}"),
                at: at + 2,
            },
            Audit {
                id: uuid::Uuid::new_v4(),
                conference: line,
                session,
                actor: person,
                action: "lock",
                target: None,
                detail: Some(format!("entry {i}")),
                at: at + 3,
            },
            DocumentAdded {
                id: document,
                conference: line,
                session,
                name: format!("minutes {i}.pdf"),
                content_type: "application/pdf".into(),
                size: 3,
                by: person,
                at: at + 4,
            },
            // Expired with its meeting: the name stays in the summary.
            DocumentRemoved {
                id: document,
                at: at + 5,
                erase_name: false,
            },
            Left {
                participant: person,
                reason: "left",
                at: at + 6,
            },
            SessionEnded {
                session,
                at: at + 7,
            },
        ]);
        if records.len() > 800 {
            store.write_records(&records).await.unwrap();
            records.clear();
        }
    }
    store.write_records(&records).await.unwrap();

    // A meeting under way, with a document shared in it.
    let code = body["line"]["access_code"].as_str().unwrap();
    let pin = body["moderator_pin"].as_str().unwrap();
    let mut chair = Ws::connect(&s).await;
    let resume = chair.join(code, None, Some(pin), "Chair").await["resume_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let shared: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let mut res = awc::Client::new()
        .post(s.url("/api/v1/room/documents"))
        .query(&[("name", "../../=agenda,\"v2\".pdf")])
        .unwrap()
        .insert_header(("content-type", "application/pdf"))
        .bearer_auth(&resume)
        .send_body(shared.clone())
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let doc: Value = serde_json::from_slice(&res.body().await.unwrap()).unwrap();
    let doc_id = doc["id"].as_str().unwrap().to_owned();
    // The upload's metadata row is written by the persister, within
    // milliseconds.
    let documents = |files: &HashMap<String, Vec<u8>>| -> Vec<Value> {
        let name = format!("conclave-export/conferences/{line}/documents.json");
        serde_json::from_slice::<Vec<Value>>(&files[&name]).unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let files = loop {
        let (status, archive, _) = download(&s, &token).await;
        assert_eq!(status, 200);
        let files = unpack(&archive);
        if documents(&files).len() as i64 == MEETINGS + 1 {
            break files;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upload's row is written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let entry = |name: &str| -> Vec<Value> {
        serde_json::from_slice(&files[&format!("conclave-export/conferences/{line}/{name}")])
            .unwrap()
    };
    let sessions = entry("sessions.json");
    assert!(
        sessions.len() as i64 >= MEETINGS,
        "{} meetings",
        sessions.len()
    );
    for (i, s) in sessions.iter().take(MEETINGS as usize).enumerate() {
        assert_eq!(s["attendance"].as_array().unwrap().len(), 1, "{s}");
        assert_eq!(s["attendance"][0]["name"], format!("Guest {i}"));
    }
    let chat = entry("chat.json");
    let audit = entry("audit.json");
    assert_eq!(
        (chat.len() as i64, audit.len() as i64),
        (MEETINGS, MEETINGS)
    );
    for i in 0..MEETINGS as usize {
        assert_eq!(chat[i]["text"], format!("message {i}"));
        assert_eq!(audit[i]["detail"], format!("entry {i}"));
    }
    let documents = documents(&files);
    for (i, d) in documents.iter().take(MEETINGS as usize).enumerate() {
        assert_eq!(d["name"], format!("minutes {i}.pdf"));
        assert!(d["removed_at"].is_string(), "{d}");
    }
    let live = &documents[MEETINGS as usize];
    assert_eq!(
        (live["id"].as_str(), live["bytes"].as_i64()),
        (Some(doc_id.as_str()), Some(70_000))
    );
    assert!(live["name"].as_str().unwrap().contains("agenda"), "{live}");
    assert_eq!(
        files[&format!("conclave-export/conferences/{line}/documents/{doc_id}")],
        shared,
        "the shared document's bytes, under its id"
    );
    assert!(
        !files
            .keys()
            .any(|k| k.contains("agenda") || k.contains("..")),
        "no name a client gave is part of a path"
    );
}

const SECRET: &str = "a-long-gateway-secret-for-tests";
const NUMBER: &str = "+441234567123";

async fn prompt(gw: &mut Ws, want: &str) {
    loop {
        let m = gw.next().await.expect("the gateway stays connected");
        if m["type"] == "prompt" {
            assert_eq!(m["prompt"], want, "{m}");
            return;
        }
    }
}

async fn erase(s: &TestServer, token: &str, body: Value) -> (u16, Value) {
    s.call("POST", "/api/v1/account/erasures", Some(body), Some(token))
        .await
}

async fn a_person_is_erased_from_the_summaries(b: Backend) {
    let s = TestServer::start_with(
        b,
        |c| c.gateway_secret = Some(conclave::secrets::GatewaySecret::new(SECRET.into()).unwrap()),
        std::sync::Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (token, code, pin) = owned_line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    let joined = chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let conference = joined["conference"].as_str().unwrap().to_owned();
    let mut gw = Ws::gateway(&s, SECRET).await.unwrap();
    gw.send(json!({"type": "call", "call": "c1", "from": NUMBER}))
        .await;
    prompt(&mut gw, "enter_access_code").await;
    gw.send(json!({"type": "dtmf", "call": "c1", "digits": format!("{code}#")}))
        .await;
    prompt(&mut gw, "enter_security_code").await;
    gw.send(json!({"type": "dtmf", "call": "c1", "digits": "2468#"}))
        .await;
    prompt(&mut gw, "enter_moderator_pin").await;
    gw.send(json!({"type": "dtmf", "call": "c1", "digits": "#"}))
        .await;
    prompt(&mut gw, "joined").await;
    let mut ada = Ws::connect(&s).await;
    assert_eq!(
        ada.join(&code, Some("2468"), None, "Ada Lovelace").await["type"],
        "joined"
    );
    assert_eq!(
        ada.ask(json!({"type": "chat", "text": "my own words"}))
            .await["type"],
        "ack"
    );
    assert_eq!(
        chair
            .ask(json!({"type": "chat", "text": "the chair's words"}))
            .await["type"],
        "ack"
    );

    // Not while the meeting is on: it would write her seat again.
    let by_name = json!({"conference": conference, "name": "Ada Lovelace"});
    let (status, body) = erase(&s, &token, by_name.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conference_live")),
        "{body}"
    );
    gw.send(json!({"type": "hangup", "call": "c1"})).await;
    for ws in [&mut ada, &mut chair] {
        assert_eq!(ws.ask(json!({"type": "leave"})).await["type"], "ack");
    }
    let sessions = format!("/api/v1/conferences/{conference}/sessions");
    common::eventually(10, "the meeting ends", || async {
        let (_, all) = s.call("GET", &sessions, None, Some(&token)).await;
        all[0]["ended_at"].is_string().then_some(())
    })
    .await;

    let (status, body) = erase(&s, &token, json!({"phone_number": NUMBER})).await;
    assert_eq!((status, body["seats"].as_u64()), (200, Some(1)), "{body}");
    let (status, body) = erase(&s, &token, by_name.clone()).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"seats": 1, "messages": 1})),
        "{body}"
    );
    let (_, all) = s.call("GET", &sessions, None, Some(&token)).await;
    let names: Vec<_> = all[0]["attendance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["phone_number"].clone(),
            )
        })
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|(n, p)| n == "Erased participant" && p.is_null())
            .count(),
        2,
        "{names:?}"
    );
    assert!(
        names.iter().any(|(n, _)| n == "Chair"),
        "the others stay: {names:?}"
    );
    let (_, chat) = s
        .call(
            "GET",
            &format!("/api/v1/conferences/{conference}/chat"),
            None,
            Some(&token),
        )
        .await;
    let texts: Vec<_> = chat
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["sender_name"].clone(), m["text"].clone()))
        .collect();
    assert!(
        texts.contains(&(json!("Erased participant"), Value::Null)),
        "{texts:?}"
    );
    assert!(
        texts.contains(&(json!("Chair"), json!("the chair's words"))),
        "{texts:?}"
    );
    assert!(!chat.to_string().contains("my own words") && !all.to_string().contains("Lovelace"));
    // Nowhere else either: no table, no file (the SQLite file's raw bytes
    // included), names the person, quotes their words or holds the number.
    let rows = common::scan::database_text(&s).await;
    let files = common::scan::data_dir_text(&s);
    for gone in ["Lovelace", "my own words", &NUMBER[1..]] {
        assert!(!rows.contains(gone), "no row holds {gone}");
        assert!(!files.contains(gone), "no file holds {gone}");
    }

    // Nobody left to erase; malformed and foreign requests change nothing.
    assert_eq!(erase(&s, &token, by_name).await.0, 404);
    assert_eq!(erase(&s, &token, json!({"name": "Chair"})).await.0, 422);
    let (other, _) = s.sign_up().await;
    let foreign = json!({"conference": conference, "name": "Chair"});
    assert_eq!(erase(&s, &other, foreign).await.0, 404);
    assert_eq!(
        erase(&s, &other, json!({"phone_number": "+441234567999"}))
            .await
            .0,
        404
    );
}

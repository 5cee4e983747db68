//! Documents over HTTP against a running server, on both stores: upload,
//! the announcement, download by another participant, the `share`
//! permission, hostile names, the size limit, and a moderator's removal
//! deleting the bytes and the name, with a remnant scan of the store and
//! of the data dir.

mod common;

use std::path::Path;

use common::{files_under, owned_line_with_security, scan, Backend, TestServer, Ws};
use serde_json::{json, Value};

on_both_stores!(actix:
    upload_download_and_removal_with_the_bytes_gone,
    share_permission_limits_and_bad_requests,
    a_removed_document_leaves_no_remnant_and_its_neighbour_is_intact,
);

const LIMIT: u64 = 256 * 1024;

async fn server(b: Backend) -> TestServer {
    TestServer::start_with(
        b,
        |c| c.max_document_bytes = LIMIT,
        std::sync::Arc::new(conclave::clock::SystemClock),
    )
    .await
}

/// POSTs `bytes` as a document; returns (status, body).
async fn upload(
    s: &TestServer,
    token: Option<&str>,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let mut req = awc::Client::new()
        .post(s.url("/api/v1/room/documents"))
        .query(&[("name", name)])
        .unwrap()
        .insert_header(("content-type", content_type));
    if let Some(t) = token {
        req = req.insert_header(("authorization", format!("Bearer {t}")));
    }
    let mut res = req.send_body(bytes).await.expect("the server answers");
    let body = res.body().limit(1 << 20).await.unwrap();
    (
        res.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

/// GETs a document; returns (status, headers of interest, bytes).
async fn download(s: &TestServer, token: &str, id: &str) -> (u16, Option<String>, Vec<u8>) {
    let mut res = awc::Client::new()
        .get(s.url(&format!("/api/v1/room/documents/{id}")))
        .insert_header(("authorization", format!("Bearer {token}")))
        .send()
        .await
        .expect("the server answers");
    let disposition = res
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.body().limit(1 << 22).await.unwrap();
    (res.status().as_u16(), disposition, body.to_vec())
}

async fn upload_download_and_removal_with_the_bytes_gone(b: Backend) {
    let s = server(b).await;
    let (_, body) = s.sign_up().await;
    let (code, pin) = (
        body["line"]["access_code"].as_str().unwrap().to_owned(),
        body["moderator_pin"].as_str().unwrap().to_owned(),
    );
    let mut chair = Ws::connect(&s).await;
    let chair_token = chair.join(&code, None, Some(&pin), "Chair").await["resume_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut guest = Ws::connect(&s).await;
    let guest_joined = guest.join(&code, None, None, "Guest").await;
    let guest_token = guest_joined["resume_token"].as_str().unwrap().to_owned();

    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (status, doc) = upload(
        &s,
        Some(&guest_token),
        "../../etc/agenda.pdf",
        "application/pdf",
        bytes.clone(),
    )
    .await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(
        (
            doc["name"].as_str(),
            doc["content_type"].as_str(),
            doc["size"].as_u64()
        ),
        (Some("agenda.pdf"), Some("application/pdf"), Some(200_000))
    );
    let id = doc["id"].as_str().unwrap().to_owned();
    let announced = chair.until("document_added").await;
    assert_eq!(announced["document"]["id"], id.as_str());
    assert_eq!(announced["document"]["by"], guest_joined["participant"]);

    // Stored under the data dir by id, never by the client's name.
    let stored = files_under(&s.data_dir().join("documents"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].starts_with(s.data_dir()) && !stored[0].to_string_lossy().contains("agenda"));
    assert!(!Path::new("/etc/agenda.pdf").exists());

    let (status, disposition, got) = download(&s, &chair_token, &id).await;
    assert_eq!(status, 200);
    assert_eq!(got, bytes, "the same bytes come back");
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename*=UTF-8''agenda.pdf")
    );
    // A late joiner sees it in the room snapshot.
    let mut late = Ws::connect(&s).await;
    late.join(&code, None, None, "Late").await;
    let room = late.until("room").await;
    assert_eq!(room["documents"][0]["id"], id.as_str(), "{room}");

    // A participant may not remove someone else's document; a moderator may.
    let refused = late
        .ask(json!({"type": "remove_document", "document": id}))
        .await;
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(
        chair
            .ask(json!({"type": "remove_document", "document": id}))
            .await["type"],
        "ack"
    );
    assert_eq!(
        guest.until("document_removed").await["document"],
        id.as_str()
    );
    assert_eq!(
        late.until("document_removed").await["document"],
        id.as_str()
    );
    common::eventually(5, "the bytes are deleted", || async {
        files_under(&s.data_dir().join("documents"))
            .is_empty()
            .then_some(())
    })
    .await;
    let (status, _, _) = download(&s, &guest_token, &id).await;
    assert_eq!(status, 404);
}

async fn share_permission_limits_and_bad_requests(b: Backend) {
    let s = server(b).await;
    let (_, body) = s.sign_up().await;
    let (code, pin) = (
        body["line"]["access_code"].as_str().unwrap().to_owned(),
        body["moderator_pin"].as_str().unwrap().to_owned(),
    );
    let mut chair = Ws::connect(&s).await;
    let chair_token = chair.join(&code, None, Some(&pin), "Chair").await["resume_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut guest = Ws::connect(&s).await;
    let guest_token = guest.join(&code, None, None, "Guest").await["resume_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // No token, a made-up token: unauthorized, nothing stored.
    assert_eq!(
        upload(&s, None, "a.txt", "text/plain", b"hi".to_vec())
            .await
            .0,
        401
    );
    assert_eq!(
        upload(
            &s,
            Some("not-a-real-token"),
            "a.txt",
            "text/plain",
            b"hi".to_vec()
        )
        .await
        .0,
        401
    );
    // Over the limit: 413, nothing stored, nothing announced.
    let (status, problem) = upload(
        &s,
        Some(&guest_token),
        "big.bin",
        "application/octet-stream",
        vec![0; LIMIT as usize + 1],
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (413, Some("payload_too_large")),
        "{problem}"
    );
    // share: moderators refuses the participant, before a byte is stored.
    assert_eq!(
        chair
            .ask(json!({"type": "set_permission", "permission": "share", "audience": "moderators"}))
            .await["type"],
        "ack"
    );
    let (status, problem) = upload(
        &s,
        Some(&guest_token),
        "a.txt",
        "text/plain",
        b"hi".to_vec(),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("not_permitted")),
        "{problem}"
    );
    assert!(
        files_under(&s.data_dir().join("documents")).is_empty(),
        "refused uploads leave nothing behind"
    );
    // The moderator still may; a hostile content type is not recorded.
    let (status, doc) = upload(
        &s,
        Some(&chair_token),
        "\u{0}..",
        "text/html<script>",
        b"<b>x</b>".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(
        (doc["name"].as_str(), doc["content_type"].as_str()),
        (Some("document"), Some("application/octet-stream"))
    );
    // A removed participant's token no longer opens anything.
    let guest_id = {
        let room = guest.until("room").await;
        room["you"].clone()
    };
    assert_eq!(
        chair
            .ask(json!({"type": "remove", "participant": guest_id}))
            .await["type"],
        "ack"
    );
    let (status, _, _) = download(&s, &guest_token, doc["id"].as_str().unwrap()).await;
    assert_eq!(status, 403, "a removed participant cannot download");
    // An unknown document id.
    let (status, _, _) = download(&s, &chair_token, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(status, 404);
    // Documents live as long as their session: the last one out takes them along.
    assert_eq!(files_under(&s.data_dir().join("documents")).len(), 1);
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");
    common::eventually(5, "the session's documents are deleted", || async {
        files_under(&s.data_dir().join("documents"))
            .is_empty()
            .then_some(())
    })
    .await;
}

/// One document removed: its bytes leave the disk at once (a copy of the
/// data dir taken afterwards holds nothing that opens to them) and its
/// name leaves the summary, while the other document of the same meeting
/// keeps both. The scan opens every value of the store and every copied
/// file with the summary's own key, so sealing cannot hide a remnant.
async fn a_removed_document_leaves_no_remnant_and_its_neighbour_is_intact(b: Backend) {
    const GONE_NAME: &str = "quillfeather-salaries.xlsx";
    const GONE_MARK: &[u8] = b"QUILLFEATHER-SALARIES;";
    const KEPT_NAME: &str = "agenda-for-tuesday.pdf";
    const KEPT_MARK: &[u8] = b"AGENDA-FOR-TUESDAY;";
    let s = server(b).await;
    let (token, code, pin) = owned_line_with_security(&s).await;
    let mut chair = Ws::connect(&s).await;
    let joined = chair.join(&code, Some("2468"), Some(&pin), "Chair").await;
    let conference = joined["conference"].as_str().unwrap().to_owned();
    let seat = joined["resume_token"].as_str().unwrap().to_owned();
    let bytes = |mark: &[u8]| -> Vec<u8> { mark.iter().copied().cycle().take(150_000).collect() };
    let (gone, kept) = (bytes(GONE_MARK), bytes(KEPT_MARK));
    let (status, doc) = upload(&s, Some(&seat), GONE_NAME, "application/pdf", gone.clone()).await;
    assert_eq!(status, 201, "{doc}");
    let gone_id = doc["id"].as_str().unwrap().to_owned();
    let (status, doc) = upload(&s, Some(&seat), KEPT_NAME, "application/pdf", kept.clone()).await;
    assert_eq!(status, 201, "{doc}");
    let kept_id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(files_under(&s.data_dir().join("documents")).len(), 2);

    assert_eq!(
        chair
            .ask(json!({"type": "remove_document", "document": gone_id}))
            .await["type"],
        "ack"
    );
    let copies = common::eventually(5, "the removed document's bytes are deleted", || async {
        let files = files_under(&s.data_dir().join("documents"));
        (files.len() == 1).then_some(files)
    })
    .await;
    // What someone copying the disk now would get.
    let aside = tempfile::tempdir().unwrap();
    let mut copied = Vec::new();
    for (i, file) in common::files_under(s.data_dir()).iter().enumerate() {
        let to = aside.path().join(i.to_string());
        std::fs::copy(file, &to).unwrap();
        copied.push(to);
    }
    assert!(!copies[0].to_string_lossy().contains(&gone_id));
    let (status, _, _) = download(&s, &seat, &gone_id).await;
    assert_eq!(status, 404);
    let (status, _, got) = download(&s, &seat, &kept_id).await;
    assert_eq!(
        (status, got == kept),
        (200, true),
        "the other document is intact"
    );
    assert_eq!(chair.ask(json!({"type": "leave"})).await["type"], "ack");

    let summary = common::eventually(10, "the meeting is written", || async {
        let (status, history) = s
            .call(
                "GET",
                &format!("/api/v1/conferences/{conference}/sessions"),
                None,
                Some(&token),
            )
            .await;
        (status == 200 && history[0]["ended_at"].is_string()).then(|| {
            history[0]["id"]
                .as_str()
                .unwrap()
                .parse::<uuid::Uuid>()
                .unwrap()
        })
    })
    .await;
    let key = scan::summary_key(&s, summary)
        .await
        .expect("the summary's key");
    let contains = |hay: &[u8], mark: &[u8]| hay.windows(mark.len()).any(|w| w == mark);
    let opened: Vec<Vec<u8>> = copied
        .iter()
        .filter_map(|c| scan::open_sealed(c, key))
        .collect();
    assert!(
        opened.iter().any(|o| o == &kept),
        "the scan opens the kept document's copy, so it could find the other"
    );
    assert!(
        !opened.iter().any(|o| contains(o, GONE_MARK)),
        "a copy opens to the removed bytes"
    );
    assert!(copied
        .iter()
        .all(|c| !contains(&std::fs::read(c).unwrap(), GONE_MARK)));
    // The store: the kept name opens under the summary's key, the removed
    // one is nowhere, sealed or clear; the row says a file was shared.
    common::eventually(5, "the removal is written", || async {
        let texts = scan::opened_texts(&s, key).await;
        texts.iter().any(|t| t == KEPT_NAME).then_some(())?;
        (!texts.iter().any(|t| t.contains("salaries"))).then_some(())
    })
    .await;
    let database = scan::database_text(&s).await;
    assert!(!database.contains("salaries") && database.contains(&gone_id));
}

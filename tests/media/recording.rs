//! Recording: everyone is told, and the files are valid Ogg/Opus and IVF/VP8.

use super::*;

/// The last granule position of an Ogg stream: its length in samples.
pub(super) fn ogg_samples(bytes: &[u8]) -> u64 {
    let mut at = 0;
    let mut granule = 0;
    while at + 27 <= bytes.len() && &bytes[at..at + 4] == b"OggS" {
        granule = u64::from_le_bytes(bytes[at + 6..at + 14].try_into().unwrap());
        let segments = bytes[at + 26] as usize;
        let body: usize = bytes[at + 27..at + 27 + segments]
            .iter()
            .map(|&b| b as usize)
            .sum();
        at += 27 + segments + body;
    }
    granule
}

/// The frames of an IVF file.
fn ivf_frames(bytes: &[u8]) -> u64 {
    let mut at = 32;
    let mut frames = 0;
    while at + 12 <= bytes.len() {
        let size = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += 12 + size;
        frames += 1;
    }
    frames
}

/// The keys a copy of the store gives for `summary`'s files: every binary
/// value of every table that opens as its wrapped key under the server's
/// encryption key (which the test knows).
pub(super) async fn keys_in_store(server: &TestServer, summary: uuid::Uuid) -> Vec<[u8; 32]> {
    let key = server.config().encryption_key.clone().unwrap();
    common::scan::database_blobs(server)
        .await
        .iter()
        .filter_map(|b| conclave::summary_keys::unwrap(&key, summary, b))
        .map(|k| *k.expose())
        .collect()
}

pub(super) use crate::common::scan::open_sealed as decrypt;

/// Copies a recording's media files into `to`; answers the copies.
pub(super) fn copy_media(
    recording: &std::path::Path,
    to: &std::path::Path,
) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(recording)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "manifest.json")
        .map(|e| {
            let copy = to.join(e.file_name());
            std::fs::copy(e.path(), &copy).unwrap();
            copy
        })
        .collect()
}

/// A deleted recording's remnant scan: no file of the data dir is named
/// after it or opens, under its summary's key, to one of its files, no
/// file holds their first bytes in clear, and no table
/// names it except the account's webhook log (which told of it); the
/// recording `kept` beside it still opens, so the scan could see one.
async fn no_remnant_of(
    server: &TestServer,
    key: [u8; 32],
    id: &str,
    files: &[Vec<u8>],
    kept: &std::path::Path,
) {
    let mut kept_opened = 0;
    for file in common::files_under(server.data_dir()) {
        assert!(!file.to_string_lossy().contains(id), "{}", file.display());
        let raw = std::fs::read(&file).unwrap_or_default();
        for f in files {
            assert!(
                !raw.windows(64).any(|w| w == &f[..64]),
                "{}",
                file.display()
            );
        }
        let Some(plain) = decrypt(&file, key) else {
            continue;
        };
        kept_opened += usize::from(file.starts_with(kept));
        // Whole files: the test's media repeats, so a kept recording may
        // start as the deleted one did.
        assert!(
            !files.contains(&plain),
            "{} opens to a deleted file",
            file.display()
        );
    }
    assert!(kept_opened > 0, "the kept recording opens");
    let database = common::scan::database_text(server).await;
    for line in database.lines().filter(|l| !l.starts_with("webhook_")) {
        assert!(!line.contains(id), "{line}");
    }
}

async fn get_range(server: &TestServer, path: &str, token: &str, range: &str) -> (u16, Vec<u8>) {
    let mut res = awc::Client::new()
        .get(server.url(path))
        .bearer_auth(token)
        .insert_header(("range", range))
        .send()
        .await
        .unwrap();
    let body = res.body().limit(64 << 20).await.unwrap();
    (res.status().as_u16(), body.to_vec())
}

#[actix_web::test]
async fn a_moderator_records_everyone_is_told_and_the_files_are_valid() {
    let server = media_server().await;
    let (owner, (m, mut b, c)) = three_owned(&server, [&["mic", "cam"], &["mic"], &["cam"]]).await;
    // An endpoint nobody listens on: its deliveries show what was told.
    let (status, hook) = server
        .call(
            "POST",
            "/api/v1/account/webhooks",
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["recording.ready"]})),
            Some(&owner),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &b, &c], stop_rx);
    wait_for("media flows", || {
        m.received(&b, "microphone") >= 10 && m.received(&c, "camera") >= 10
    })
    .await;

    let refused = b.ask(json!({"type": "start_recording"})).await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    let sent = |c: &Client| c.sent.lock().unwrap().clone();
    let before = [sent(&m), sent(&b), sent(&c)];
    m.ok(json!({"type": "start_recording"})).await;
    let told = b.until("recording").await;
    assert_eq!(told["on"], true, "{told}");
    settle(3000).await;
    m.ok(json!({"type": "stop_recording"})).await;
    let after = [sent(&m), sent(&b), sent(&c)];
    // What was sent while recording, in seconds of media, per participant
    // and source: 20 ms per audio packet, 30 video frames a second.
    let sent_seconds = |who: &str, source: &str| {
        let i = [&m.id, &b.id, &c.id]
            .iter()
            .position(|id| id.as_str() == who)
            .unwrap();
        let key: &str = if source == "microphone" {
            "microphone"
        } else {
            "camera"
        };
        let n = after[i].get(key).copied().unwrap_or(0) - before[i].get(key).copied().unwrap_or(0);
        if source == "microphone" {
            n as f64 * 0.02
        } else {
            n as f64 / 30.0
        }
    };
    let _ = stop.send(());
    let _ = sender.await;

    let folder = server.data_dir().join("recordings").join(&m.conference);
    let manifest = {
        let folder = folder.clone();
        common::eventually(10, "the recording manifest", move || {
            let folder = folder.clone();
            async move {
                let session = std::fs::read_dir(&folder).ok()?.next()?.ok()?.path();
                let text = std::fs::read_to_string(session.join("manifest.json")).ok()?;
                Some((session, serde_json::from_str::<Value>(&text).unwrap()))
            }
        })
        .await
    };
    let (session, manifest) = manifest;
    let deliveries = format!(
        "/api/v1/account/webhooks/{}/deliveries",
        hook["id"].as_str().unwrap()
    );
    let told = common::eventually(10, "recording.ready is told", || async {
        let (_, rows) = server.call("GET", &deliveries, None, Some(&owner)).await;
        (rows.as_array()?.len() == 1).then_some(rows)
    })
    .await;
    assert_eq!(told[0]["type"], "recording.ready", "{told}");
    assert_eq!(told[0]["conference"], m.conference.as_str(), "{told}");
    let tracks = manifest["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 4, "mic+cam, mic, cam: {manifest}");
    let base = format!("/api/v1/conferences/{}/recordings", m.conference);
    let rec_id = session.file_name().unwrap().to_str().unwrap().to_owned();
    let summary = uuid::Uuid::parse_str(&rec_id[..36]).unwrap();
    let keys = keys_in_store(&server, summary).await;
    assert_eq!(keys.len(), 1, "the summary's key, wrapped in its row");
    let mut recorded_files = Vec::new();
    for t in tracks {
        let file = t["file"].as_str().unwrap();
        let (status, bytes) = get_bytes(&server, &format!("{base}/{rec_id}/{file}"), &owner).await;
        assert_eq!(status, 200, "{t}");
        // On disk the file is sealed: no Ogg page or IVF header in clear,
        // and what the owner downloads is what the recorder wrote.
        let disk = std::fs::read(session.join(file)).unwrap();
        assert_eq!(&disk[..8], b"CNCLSEAL", "{t}");
        assert!(
            !disk.windows(4).any(|w| w == b"OggS" || w == b"DKIF"),
            "{t}"
        );
        assert_eq!(
            disk.len() as u64,
            conclave_media::sealed_file::stored_len(bytes.len() as u64)
        );
        assert_eq!(
            decrypt(&session.join(file), keys[0]).as_deref(),
            Some(&bytes[..]),
            "{t}"
        );
        assert_eq!(t["bytes"].as_u64(), Some(bytes.len() as u64), "{t}");
        let recorded = if t["codec"] == "opus" {
            assert_eq!(&bytes[..4], b"OggS", "{t}");
            ogg_samples(&bytes) as f64 / 48_000.0
        } else {
            assert_eq!(&bytes[..4], b"DKIF", "{t}");
            assert_eq!(&bytes[8..12], b"VP80", "{t}");
            ivf_frames(&bytes) as f64 / 30.0
        };
        assert!(bytes.len() > 1000, "{t}");
        recorded_files.push(bytes.clone());
        let seconds = sent_seconds(
            t["participant"].as_str().unwrap(),
            t["source"].as_str().unwrap(),
        );
        assert!(seconds > 2.0, "{t}: {seconds}");
        assert!(
            (recorded - seconds).abs() <= seconds * 0.1,
            "{t}: {recorded:.2} s recorded of {seconds:.2} s sent"
        );
        let manifest_s = t["duration_ms"].as_u64().unwrap() as f64 / 1000.0;
        assert!((manifest_s - seconds).abs() <= seconds * 0.1, "{t}");
        // Seeking: a range is decrypted from the chunk it starts in.
        let len = bytes.len();
        for (from, to) in [(0, 99), (len / 2, len - 1), (len - 10, len - 1)] {
            let (status, part) = get_range(
                &server,
                &format!("{base}/{rec_id}/{file}"),
                &owner,
                &format!("bytes={from}-{to}"),
            )
            .await;
            assert_eq!(
                (status, &part[..]),
                (206, &bytes[from..=to]),
                "{t} {from}-{to}"
            );
        }
        let (status, _) = get_range(
            &server,
            &format!("{base}/{rec_id}/{file}"),
            &owner,
            &format!("bytes={len}-"),
        )
        .await;
        assert_eq!(status, 416);
    }

    // The owner lists, downloads and deletes them over the API.
    let (status, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(status, 200, "{list}");
    let rec = &list[0];
    let id = rec["id"].as_str().unwrap();
    assert_eq!(rec["files"].as_array().unwrap().len(), 4, "{list}");
    let first = rec["files"][0]["file"].as_str().unwrap().to_owned();
    let (status, bytes) = get_bytes(&server, &format!("{base}/{id}/{first}"), &owner).await;
    assert_eq!(status, 200);
    assert_eq!(Some(bytes), decrypt(&session.join(&first), keys[0]));
    let (stranger, _) = server.sign_up().await;
    let (status, _) = server.call("GET", &base, None, Some(&stranger)).await;
    assert_eq!(status, 404, "someone else's conference");
    for hostile in [
        "..%2F..%2Fhmac.key",
        "manifest.json",
        "..",
        "%2Fetc%2Fpasswd",
    ] {
        let (status, _) = get_bytes(&server, &format!("{base}/{id}/{hostile}"), &owner).await;
        assert_eq!(status, 404, "{hostile}");
    }
    let (status, _) = server
        .call(
            "DELETE",
            &format!("{base}/{id}/{first}"),
            None,
            Some(&owner),
        )
        .await;
    assert_eq!(status, 204);
    assert!(!session.join(&first).exists(), "the bytes are gone");
    let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(list[0]["files"].as_array().unwrap().len(), 3);
    let (status, _) = server
        .call("DELETE", &format!("{base}/{id}"), None, Some(&owner))
        .await;
    assert_eq!(status, 204);
    assert!(!session.exists(), "the recording's folder is gone");
    let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(list, json!([]));

    // A second recording, still running when everyone leaves: it is
    // finished after the room closed, and still told. It goes with the
    // conference's summary, once the meeting is over.
    m.ok(json!({"type": "start_recording"})).await;
    settle(300).await;
    let history = format!("/api/v1/conferences/{}/history", m.conference);
    let (status, live) = server.call("DELETE", &history, None, Some(&owner)).await;
    assert_eq!((status, &live["code"]), (409, &json!("conference_live")));
    for who in [&m, &b, &c] {
        who.ok(json!({"type": "leave"})).await;
    }
    common::eventually(10, "the second recording.ready is told", || async {
        let (_, rows) = server.call("GET", &deliveries, None, Some(&owner)).await;
        (rows.as_array()?.len() == 2 && rows[0]["type"] == "recording.ready").then_some(())
    })
    .await;
    let second = common::eventually(10, "the second recording", || async {
        let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
        let id = list[0]["id"].as_str()?.to_owned();
        Some(folder.join(id))
    })
    .await;
    assert!(second.exists());
    no_remnant_of(&server, keys[0], &rec_id, &recorded_files, &second).await;
    // Copied aside before the summary goes, as a backup of the data
    // directory would be: it opens with the key the store holds.
    let aside = tempfile::tempdir().unwrap();
    let copies = copy_media(&second, aside.path());
    assert!(!copies.is_empty());
    let keys = keys_in_store(&server, summary).await;
    assert_eq!(keys.len(), 1);
    assert!(copies.iter().all(|c| decrypt(c, keys[0]).is_some()));
    let deleted = common::eventually(10, "the meeting ends", || async {
        let (status, body) = server.call("DELETE", &history, None, Some(&owner)).await;
        (status == 200).then_some(body)
    })
    .await;
    assert_eq!(deleted["recordings"], 1, "{deleted}");
    assert!(
        !second.exists(),
        "the recording's bytes went with the summary"
    );
    // The key went first, with the summary's row: no value left in the
    // store opens as it, and the copies can no longer be read.
    assert!(keys_in_store(&server, summary).await.is_empty());
    // Nor in clear anywhere in the data directory (the SQLite file and
    // its log as raw bytes).
    for file in common::files_under(server.data_dir()) {
        let raw = std::fs::read(&file).unwrap_or_default();
        assert!(!raw.windows(32).any(|w| w == keys[0]), "{}", file.display());
    }
    let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(list, json!([]));
}

/// On PostgreSQL too: a recording copied aside opens with the key its
/// summary's row holds, and with nothing once the summary is deleted.
#[actix_web::test]
async fn on_postgres_a_recording_copied_aside_is_unreadable_once_its_summary_is_deleted() {
    let server = media_server_on(Backend::Postgres, true).await;
    let (owner, (m, b, c)) = three_owned(&server, [&["mic"], &[], &["cam"]]).await;
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m, &b, &c], stop_rx);
    wait_for("media flows", || {
        b.received(&m, "microphone") >= 10 && b.received(&c, "camera") >= 10
    })
    .await;
    let base = format!("/api/v1/conferences/{}/recordings", m.conference);
    // Two recordings of different lengths (the test's media repeats, so
    // equal lengths would make equal files); the first is deleted alone.
    let mut ids = Vec::new();
    for length in [1500, 2500] {
        m.ok(json!({"type": "start_recording"})).await;
        settle(length).await;
        m.ok(json!({"type": "stop_recording"})).await;
        let list = common::eventually(10, "the recording is listed", || async {
            let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
            (list.as_array()?.len() == ids.len() + 1).then_some(list)
        })
        .await;
        let new = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned());
        ids.extend(new.filter(|i| !ids.contains(i)).collect::<Vec<_>>());
    }
    let _ = stop.send(());
    let _ = sender.await;
    let (gone, id) = (ids[0].clone(), ids[1].clone());
    let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
    let gone_files: Vec<Vec<u8>> = {
        let rec = list
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == gone.as_str())
            .unwrap();
        let mut out = Vec::new();
        for file in rec["files"].as_array().unwrap() {
            let name = file["file"].as_str().unwrap();
            out.push(
                get_bytes(&server, &format!("{base}/{gone}/{name}"), &owner)
                    .await
                    .1,
            );
        }
        out
    };
    assert_eq!(gone_files.len(), 2);
    let (status, _) = server
        .call("DELETE", &format!("{base}/{gone}"), None, Some(&owner))
        .await;
    assert_eq!(status, 204);
    let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    let summary = uuid::Uuid::parse_str(&id[..36]).unwrap();
    let folder = server
        .data_dir()
        .join("recordings")
        .join(&m.conference)
        .join(&id);
    let aside = tempfile::tempdir().unwrap();
    let copies = copy_media(&folder, aside.path());
    assert_eq!(copies.len(), 2, "{list}");
    let keys = keys_in_store(&server, summary).await;
    assert_eq!(keys.len(), 1);
    no_remnant_of(&server, keys[0], &gone, &gone_files, &folder).await;
    for file in list[0]["files"].as_array().unwrap() {
        let name = file["file"].as_str().unwrap();
        let (status, bytes) = get_bytes(&server, &format!("{base}/{id}/{name}"), &owner).await;
        assert_eq!(status, 200);
        assert!(
            bytes.starts_with(b"OggS") || bytes.starts_with(b"DKIF"),
            "{file}"
        );
        let copy = copies
            .iter()
            .find(|c| c.file_name().unwrap() == name)
            .unwrap();
        assert_eq!(decrypt(copy, keys[0]), Some(bytes), "{file}");
    }
    for who in [&m, &b, &c] {
        who.ok(json!({"type": "leave"})).await;
    }
    let history = format!("/api/v1/conferences/{}/history", m.conference);
    common::eventually(10, "the meeting ends and its summary goes", || async {
        let (status, _) = server.call("DELETE", &history, None, Some(&owner)).await;
        (status == 200).then_some(())
    })
    .await;
    assert!(!folder.exists());
    assert!(keys_in_store(&server, summary).await.is_empty());
    assert!(
        copies.iter().all(|c| c.exists()),
        "the copies are still there"
    );
}

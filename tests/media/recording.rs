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
    for t in tracks {
        let bytes = std::fs::read(session.join(t["file"].as_str().unwrap())).unwrap();
        let recorded = if t["codec"] == "opus" {
            assert_eq!(&bytes[..4], b"OggS", "{t}");
            ogg_samples(&bytes) as f64 / 48_000.0
        } else {
            assert_eq!(&bytes[..4], b"DKIF", "{t}");
            assert_eq!(&bytes[8..12], b"VP80", "{t}");
            ivf_frames(&bytes) as f64 / 30.0
        };
        assert!(bytes.len() > 1000, "{t}");
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
    }

    // The owner lists, downloads and deletes them over the API.
    let base = format!("/api/v1/conferences/{}/recordings", m.conference);
    let (status, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(status, 200, "{list}");
    let rec = &list[0];
    let id = rec["id"].as_str().unwrap();
    assert_eq!(rec["files"].as_array().unwrap().len(), 4, "{list}");
    let first = rec["files"][0]["file"].as_str().unwrap().to_owned();
    let (status, bytes) = get_bytes(&server, &format!("{base}/{id}/{first}"), &owner).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, std::fs::read(session.join(&first)).unwrap());
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
    let (_, list) = server.call("GET", &base, None, Some(&owner)).await;
    assert_eq!(list, json!([]));
}

//! A phone caller (Debian's baresip, its microphone a 440 Hz tone) and a
//! web participant (sending a 1 kHz tone as real Opus) in one room: each
//! hears the other's tone through the server, the caller none of its own,
//! and a moderator's mute of the caller stops its audio at the server.

use super::*;
use common::baresip::{free_port, loopback_sip, Baresip};
use conclave_media::phone::codec::Decoder;
use conclave_media::phone::mix::tone;

const NUMBER: &str = "+442079460321";

/// The 8 kHz audio of the latest `frames` packets `client` received of
/// `publisher`'s microphone.
fn decoded(client: &Client, publisher: &str, frames: usize) -> Vec<i16> {
    let counts = client.counts.lock().unwrap();
    let Some(got) = counts.get(&(publisher.to_owned(), "microphone".to_owned())) else {
        return Vec::new();
    };
    let mut decoder = Decoder::new().unwrap();
    let mut pcm = Vec::new();
    let skip = got.audio.len().saturating_sub(frames);
    for payload in got.audio.iter().skip(skip) {
        decoder.decode(Some(payload), &mut pcm).unwrap();
    }
    pcm
}

fn received_from(client: &Client, publisher: &str) -> u64 {
    count(&client.counts, publisher, "microphone")
}

#[actix_web::test]
async fn a_caller_and_a_web_participant_hear_each_other_and_a_mute_holds_the_caller_back() {
    let sip = free_port();
    let rtp = 30000 + (sip % 100) * 20;
    let server = TestServer::start_with(
        Backend::Sqlite,
        move |c| {
            c.media.peer_to_peer = false;
            c.media.bind_ip = std::net::IpAddr::from([127, 0, 0, 1]);
            c.media.port_min = 41000;
            c.media.port_max = 47999;
            c.sip = Some(loopback_sip(sip, rtp, 20));
        },
        Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (code, pin) = line_with_security(&server).await;
    let mut m = Client::join(&server, &code, Some(&pin), "2468", "Mo", &["mic"], true).await;
    m.tone = Some(1000.0);
    let (stop, stop_rx) = oneshot::channel();
    let sender = stream(&[&m], stop_rx);

    let mut phone = Baresip::start_with_tone(NUMBER, None, 440.0).await;
    phone.dial(&format!("sip:conclave@127.0.0.1:{sip}")).await;
    phone.event("CALL_ESTABLISHED", 10).await;
    settle(1000).await;
    phone.keys(&format!("{code}#2468##")).await;
    let joined = loop {
        let j = m.until("participant_joined").await;
        if j["participant"]["phone"] == true {
            break j;
        }
    };
    let caller = joined["participant"]["id"].as_str().unwrap().to_owned();

    // The web participant hears the caller's tone, decoded from Opus.
    wait_for("the caller's audio reaches the web", || {
        received_from(&m, &caller) >= 100
    })
    .await;
    let heard = decoded(&m, &caller, 50);
    let (at_440, at_1000) = (tone(&heard, 440.0), tone(&heard, 1000.0));
    eprintln!("web heard: 440 Hz {at_440:.0}, 1 kHz {at_1000:.0}");
    assert!(
        at_440 > 2000.0 && at_1000 < at_440 / 10.0,
        "the caller's tone on the web: 440 Hz {at_440:.0}, 1 kHz {at_1000:.0}"
    );

    // The caller is the loudest: everyone is told it speaks.
    loop {
        let s = m.until("active_speaker").await;
        if s["participant"] == caller.as_str() {
            break;
        }
    }

    // Muted by the moderator: held back at the server within a second.
    m.ok(json!({"type": "mute", "participant": caller, "muted": true}))
        .await;
    settle(300).await;
    let [muted] = over(1000, [&|| received_from(&m, &caller)]).await;
    assert!(
        muted.1 - muted.0 <= 2,
        "a muted caller still heard: {muted:?}"
    );
    m.ok(json!({"type": "mute", "participant": caller, "muted": false}))
        .await;
    let [unmuted] = over(1000, [&|| received_from(&m, &caller)]).await;
    assert!(
        unmuted.1 - unmuted.0 >= 25,
        "unmuted, heard again: {unmuted:?}"
    );

    // Recorded: the caller's voice is a microphone track of the recording.
    m.ok(json!({"type": "start_recording"})).await;
    settle(2000).await;
    m.ok(json!({"type": "stop_recording"})).await;
    let folder = server.data_dir().join("recordings").join(&m.conference);
    let (session, manifest) = common::eventually(10, "the recording manifest", || {
        let folder = folder.clone();
        async move {
            let session = std::fs::read_dir(&folder).ok()?.next()?.ok()?.path();
            let text = std::fs::read_to_string(session.join("manifest.json")).ok()?;
            Some((session, serde_json::from_str::<Value>(&text).unwrap()))
        }
    })
    .await;
    let track = manifest["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["participant"] == caller.as_str())
        .unwrap_or_else(|| panic!("the caller's track is recorded: {manifest}"))
        .clone();
    assert_eq!(
        (track["source"].as_str(), track["codec"].as_str()),
        (Some("microphone"), Some("opus")),
        "{track}"
    );
    // Sealed on disk: opened with the key the store holds for the meeting.
    let summary =
        uuid::Uuid::parse_str(&session.file_name().unwrap().to_str().unwrap()[..36]).unwrap();
    let keys = super::recording::keys_in_store(&server, summary).await;
    assert_eq!(keys.len(), 1);
    let bytes =
        super::recording::decrypt(&session.join(track["file"].as_str().unwrap()), keys[0]).unwrap();
    let seconds = super::recording::ogg_samples(&bytes) as f64 / 48_000.0;
    assert!(
        (1.5..=2.5).contains(&seconds),
        "{seconds:.2} s of the caller recorded in 2 s"
    );

    // The caller hears the web participant's tone, and none of its own.
    phone.hang_up().await;
    phone.event("CALL_CLOSED", 5).await;
    let _ = stop.send(());
    let _ = sender.await;
    let heard = phone.heard();
    // The last 2 s of the call: seated, the prompts over.
    let tail = &heard[heard.len().saturating_sub(16_000)..];
    let (at_440, at_1000) = (tone(tail, 440.0), tone(tail, 1000.0));
    eprintln!("caller heard: 1 kHz {at_1000:.0}, 440 Hz {at_440:.0}");
    assert!(
        at_1000 > 2000.0 && at_440 < at_1000 / 10.0,
        "the web tone at the caller: 1 kHz {at_1000:.0}, its own 440 Hz {at_440:.0}"
    );
}

//! The hand-over between peer to peer and the server with real peers, in
//! every ordering of "the first publisher's media reached the server or
//! not" × a second joins (end to end) × a third joins (through the server)
//! × one of the three leaves (end to end again) × a fourth joins: after
//! each move through the server, everyone receives everyone else.

use super::*;

/// The clients' streams, stopped when the scenario ends.
#[derive(Default)]
struct Streams(Vec<(oneshot::Sender<()>, tokio::task::JoinHandle<()>)>);

impl Streams {
    fn start(&mut self, c: &Client) {
        let (stop, rx) = oneshot::channel();
        self.0.push((stop, stream(&[c], rx)));
    }

    async fn stop(self) {
        for (stop, h) in self.0 {
            let _ = stop.send(());
            let _ = h.await;
        }
    }
}

async fn join(server: &TestServer, code: &str, pin: Option<&str>, name: &str) -> Client {
    Client::join(server, code, pin, "2468", name, &["mic", "cam"], true).await
}

/// Waits until every client was told the room's mode is `mode`.
async fn mode_is(clients: &mut [&mut Client], mode: &str) {
    for c in clients.iter_mut() {
        loop {
            let m = c.until_any(&["media_mode", "room"]).await;
            let now = if m["type"] == "room" {
                &m["media"]["mode"]
            } else {
                &m["mode"]
            };
            if now == mode {
                break;
            }
        }
    }
}

/// Every client receives every other's microphone and camera, counted
/// from now.
async fn all_receive_all(clients: &[&Client], case: &str) {
    for rx in clients {
        for tx in clients {
            if rx.id == tx.id {
                continue;
            }
            for (source, enough) in [("microphone", 25), ("camera", 15)] {
                let before = rx.received(tx, source);
                wait_for(&format!("{case}: {source} {} -> {}", tx.id, rx.id), || {
                    rx.received(tx, source) >= before + enough
                })
                .await;
            }
        }
    }
}

async fn scenario(first_media_up: bool, leaver: usize) {
    let case = format!("first media up: {first_media_up}, leaver: {leaver}");
    let server = media_server().await;
    let (code, pin) = line_with_security(&server).await;
    let mut streams = Streams::default();

    let mut a = join(&server, &code, Some(&pin), "Ada").await;
    mode_is(&mut [&mut a], "sfu").await;
    if first_media_up {
        streams.start(&a);
        let before = metric(&server, "received").await;
        for _ in 0..150 {
            if metric(&server, "received").await > before + 50 {
                break;
            }
            settle(100).await;
        }
        assert!(
            metric(&server, "received").await > before + 50,
            "{case}: Ada's media reaches the server"
        );
    }

    let mut b = join(&server, &code, None, "Bob").await;
    mode_is(&mut [&mut a, &mut b], "p2p").await;
    if !first_media_up {
        streams.start(&a);
    }
    streams.start(&b);
    all_receive_all(&[&a, &b], &format!("{case}, two")).await;

    let mut c = join(&server, &code, None, "Cyd").await;
    mode_is(&mut [&mut a, &mut b, &mut c], "sfu").await;
    streams.start(&c);
    all_receive_all(&[&a, &b, &c], &format!("{case}, three")).await;

    let mut three = vec![a, b, c];
    let gone = three.remove(leaver);
    assert_eq!(gone.ask(json!({"type": "leave"})).await["type"], "ack");
    let [mut x, mut y]: [Client; 2] = three.try_into().ok().unwrap();
    mode_is(&mut [&mut x, &mut y], "p2p").await;
    all_receive_all(&[&x, &y], &format!("{case}, two again")).await;

    let mut d = join(&server, &code, None, "Dan").await;
    mode_is(&mut [&mut x, &mut y, &mut d], "sfu").await;
    streams.start(&d);
    all_receive_all(&[&x, &y, &d], &format!("{case}, a fourth")).await;
    streams.stop().await;
    drop(gone);
}

#[actix_web::test]
async fn hand_over_with_the_first_media_up_and_the_first_leaving() {
    scenario(true, 0).await;
}

#[actix_web::test]
async fn hand_over_with_the_first_media_up_and_the_second_leaving() {
    scenario(true, 1).await;
}

#[actix_web::test]
async fn hand_over_with_the_first_media_up_and_the_third_leaving() {
    scenario(true, 2).await;
}

#[actix_web::test]
async fn hand_over_before_the_first_media_is_up_and_the_first_leaving() {
    scenario(false, 0).await;
}

#[actix_web::test]
async fn hand_over_before_the_first_media_is_up_and_the_second_leaving() {
    scenario(false, 1).await;
}

#[actix_web::test]
async fn hand_over_before_the_first_media_is_up_and_the_third_leaving() {
    scenario(false, 2).await;
}

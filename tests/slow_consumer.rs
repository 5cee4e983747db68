//! A participant that stops reading is disconnected as a slow consumer
//! while everyone else carries on, on both stores. The slow client is a
//! raw WebSocket over a socket with a 4 KiB receive buffer that, once
//! joined, reads nothing while ten others chat.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Backend, TestServer, Ws};
use serde_json::json;

on_both_stores!(actix: a_slow_consumer_is_disconnected_while_the_others_carry_on);

/// A client-to-server text frame (clients must mask).
fn frame(text: &str) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let payload = text.as_bytes();
    let mut out = vec![0x81];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Opens `/ws` on a socket whose receive buffer is 4 KiB, sends `join`, and
/// returns the socket without reading past the handshake.
fn stubborn_client(base: &str, join: serde_json::Value) -> TcpStream {
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream.write_all(&frame(&join.to_string())).unwrap();
    stream
}

/// Reads server frames until the connection ends; returns the close
/// frame's reason, if one came.
fn close_reason(mut stream: TcpStream) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut data = Vec::new();
    let _ = stream.read_to_end(&mut data);
    let mut at = 0;
    while at + 2 <= data.len() {
        let (op, len7) = (data[at] & 0x0f, (data[at + 1] & 0x7f) as usize);
        let (len, head) = match len7 {
            126 => (u16::from_be_bytes([data[at + 2], data[at + 3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(data[at + 2..at + 10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n, 2),
        };
        let body = data.get(at + head..at + head + len)?;
        if op == 0x8 && body.len() >= 2 {
            return Some(String::from_utf8_lossy(&body[2..]).into_owned());
        }
        at += head + len;
    }
    None
}

async fn a_slow_consumer_is_disconnected_while_the_others_carry_on(b: Backend) {
    // A 16 KiB kernel send buffer per connection, so the slow client's
    // backlog reaches its queue within a few hundred messages.
    let s = TestServer::start_with(
        b,
        |c| c.tcp_send_buffer_bytes = Some(16 * 1024),
        std::sync::Arc::new(conclave::clock::SystemClock),
    )
    .await;
    let (_, body) = s.sign_up().await;
    let code = body["line"]["access_code"].as_str().unwrap().to_owned();
    let mut watcher = Ws::connect(&s).await;
    watcher.join(&code, None, None, "Watcher").await;
    let slow = stubborn_client(
        &s.base,
        json!({"type": "join", "id": "j", "access_code": code, "name": "Sleepy"}),
    );
    watcher.until("participant_joined").await;
    let mut talkers = Vec::new();
    for i in 0..10 {
        let mut t = Ws::connect(&s).await;
        t.join(&code, None, None, &format!("Talker {i}")).await;
        talkers.push(t);
    }
    // 400 messages of 3,900 characters: far more than the slow client's
    // socket buffers and its 256-message queue hold.
    let text = "x".repeat(3900);
    let rounds = 40;
    let expected = rounds * talkers.len();
    // The watcher reads all along, as a healthy client does.
    let watching = actix_web::rt::spawn(async move {
        let mut got = 0;
        let mut left = None;
        while got < expected {
            let m = watcher.next().await.expect("the watcher stays connected");
            match m["type"].as_str() {
                Some("chat") => got += 1,
                Some("participant_left") => left = Some(m),
                _ => {}
            }
        }
        (got, left)
    });
    let mut sent = 0;
    for _round in 0..rounds {
        for t in &mut talkers {
            let answer = t.ask(json!({"type": "chat", "text": text})).await;
            assert_eq!(answer["type"], "ack", "{answer}");
            sent += 1;
        }
    }
    // Every talker got its answers while the slow client read nothing: had
    // the room waited for it, these asks would never have completed.
    // The watcher, who reads, gets every message.
    let (got, left) = watching.await.unwrap();
    assert_eq!(got, sent);
    assert!(
        left.is_none(),
        "the slow seat waits for a resume, it is not gone: {left:?}"
    );
    // The slow one was cut off, and told why.
    let reason = actix_web::rt::task::spawn_blocking(move || close_reason(slow))
        .await
        .unwrap();
    assert_eq!(reason.as_deref(), Some("slow_consumer"));
}

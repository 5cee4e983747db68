//! SIP over UDP and TCP on one address: a task reads each datagram, a task
//! per TCP connection reads its stream (messages framed by Content-Length,
//! RFC 3261 §18.3), and every message read goes to the [`SipEdge`]. Answers
//! go back the way the request came ([`Flow`]): to the datagram's source
//! address, or down the same connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use super::edge::{Incoming, SipEdge};
use super::message::{self, Malformed, MAX_MESSAGE_BYTES};
use crate::addresses::truncated;

/// TCP connections open at once.
const MAX_CONNECTIONS: usize = 256;
/// A TCP connection with nothing read for this long is closed.
const IDLE: Duration = Duration::from_secs(600);
/// Messages waiting to be written on one connection.
const WRITE_QUEUE: usize = 64;

/// How to answer whoever sent a message.
#[derive(Clone, Debug)]
pub enum Flow {
    Udp {
        socket: Arc<UdpSocket>,
        peer: SocketAddr,
    },
    Tcp {
        peer: SocketAddr,
        writer: mpsc::Sender<Bytes>,
    },
}

impl Flow {
    pub fn peer(&self) -> SocketAddr {
        match self {
            Flow::Udp { peer, .. } | Flow::Tcp { peer, .. } => *peer,
        }
    }

    pub fn is_reliable(&self) -> bool {
        matches!(self, Flow::Tcp { .. })
    }

    pub fn transport(&self) -> &'static str {
        match self {
            Flow::Udp { .. } => "UDP",
            Flow::Tcp { .. } => "TCP",
        }
    }

    /// Sends without waiting: a full connection queue drops the message,
    /// as a lost datagram would be (retransmissions cover both).
    pub fn send(&self, bytes: Bytes) {
        match self {
            Flow::Udp { socket, peer } => {
                let _ = socket.try_send_to(&bytes, *peer);
            }
            Flow::Tcp { writer, .. } => {
                let _ = writer.try_send(bytes);
            }
        }
    }
}

pub async fn serve_udp(socket: Arc<UdpSocket>, edge: Addr<SipEdge>) {
    let mut buf = vec![0u8; MAX_MESSAGE_BYTES + 1];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if n > MAX_MESSAGE_BYTES {
            continue;
        }
        let flow = Flow::Udp {
            socket: socket.clone(),
            peer,
        };
        match message::parse(&buf[..n], false) {
            Ok((_, message)) => edge.do_send(Incoming { message, flow }),
            Err(Malformed::Incomplete) => {} // a keep-alive
            Err(why) => tracing::debug!(peer = %truncated(peer.ip()), ?why, "SIP datagram dropped"),
        }
    }
}

pub async fn serve_tcp(listener: TcpListener, edge: Addr<SipEdge>) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (open, edge) = (open.clone(), edge.clone());
        tokio::spawn(async move {
            let (mut reader, mut writer) = stream.into_split();
            let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
            // Ends when the connection fails or the last call on it ends.
            tokio::spawn(async move {
                while let Some(bytes) = rx.recv().await {
                    if writer.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
            });
            let mut buf = BytesMut::with_capacity(4096);
            'read: loop {
                match tokio::time::timeout(IDLE, reader.read_buf(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => break,
                }
                loop {
                    match message::parse(&buf, true) {
                        Ok((used, message)) => {
                            let _ = buf.split_to(used);
                            let flow = Flow::Tcp {
                                peer,
                                writer: tx.clone(),
                            };
                            edge.do_send(Incoming { message, flow });
                        }
                        Err(Malformed::Incomplete) if buf.len() <= MAX_MESSAGE_BYTES => {
                            if buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                                buf.clear();
                            }
                            break;
                        }
                        // A stream out of step cannot be read further.
                        Err(why) => {
                            tracing::debug!(peer = %truncated(peer.ip()), ?why, "SIP connection closed");
                            break 'read;
                        }
                    }
                }
            }
            drop(tx);
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

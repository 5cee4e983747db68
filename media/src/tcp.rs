//! ICE over TCP (RFC 6544), for networks that let no UDP through: a
//! passive candidate on a TCP port beside the UDP one. Clients connect
//! (their candidates are `tcptype active`); each connection carries the
//! same datagrams the UDP port does, each framed by its 16-bit length
//! (RFC 4571), and they are routed by the same table, as coming from a
//! [`Peer`] whose `tcp` is set.
//!
//! A connection must earn its keep: its first frame is a binding request
//! naming a live connection's ufrag, or it is closed; it is closed when
//! that connection is forgotten, after [`IDLE`] without a frame, and on a
//! frame no client sends (over [`MAX_FRAME`]). What goes out is queued per
//! connection and dropped when the queue is full, as a full UDP buffer
//! would: a late media packet is worth nothing, and one slow client must
//! not hold up the room's send.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::socket::{MediaSocket, Peer};

/// Largest frame taken. RFC 4571 allows 65,535 bytes; a WebRTC client's
/// datagrams stay under its path MTU, so anything far above is not one.
pub const MAX_FRAME: usize = 4096;
/// A connection that sends nothing (not even a consent check, every few
/// seconds) for this long is closed (RFC 7675 gives 30 s).
pub const IDLE: Duration = Duration::from_secs(30);
/// How long a new connection has to send its first binding request.
const FIRST_FRAME: Duration = Duration::from_secs(10);
/// Frames waiting to be written to one connection.
const QUEUE: usize = 512;
/// Connections open at once; more are closed as they arrive.
pub const MAX_CONNECTIONS: usize = 4096;

/// The plane's ICE-TCP port.
pub struct TcpPort {
    listener: Mutex<Option<TcpListener>>,
    /// What the passive candidate announces.
    pub announced: SocketAddr,
    /// Each open connection's queue, and the connection's number (an
    /// address may be reused by a later connection).
    writers: Mutex<HashMap<SocketAddr, (u64, mpsc::Sender<Bytes>)>>,
    next: AtomicU64,
    /// Frames dropped because their connection's queue was full.
    pub dropped: AtomicU64,
    /// Connections closed at once because [`MAX_CONNECTIONS`] were open.
    pub refused: AtomicU64,
}

impl TcpPort {
    pub(crate) fn new(listener: TcpListener, announced: SocketAddr) -> Self {
        Self {
            listener: Mutex::new(Some(listener)),
            announced,
            writers: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    fn writers(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, (u64, mpsc::Sender<Bytes>)>> {
        self.writers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.writers().len()
    }

    /// Queues one datagram, framed, for the connection from `to`; dropped
    /// when there is no such connection or its queue is full.
    pub(crate) fn send(&self, to: SocketAddr, datagram: &[u8]) {
        let Ok(len) = u16::try_from(datagram.len()) else {
            return;
        };
        let Some((_, writer)) = self.writers().get(&to).cloned() else {
            return;
        };
        let mut frame = BytesMut::with_capacity(2 + datagram.len());
        frame.put_u16(len);
        frame.put_slice(datagram);
        if writer.try_send(frame.freeze()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Closes the connection from `peer` (its ICE connection was
    /// forgotten): dropping its writer ends its task.
    pub(crate) fn close(&self, peer: SocketAddr) {
        self.writers().remove(&peer);
    }
}

/// Accepts connections on the socket's TCP port until the runtime stops.
pub(crate) async fn run_listener(socket: Arc<MediaSocket>) {
    let Some(port) = socket.tcp.as_ref() else {
        return;
    };
    let Some(listener) = port
        .listener
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    else {
        return;
    };
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors, a connection reset before it was
                // taken: never fatal to the port.
                tracing::debug!(error = %e, "media TCP accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = port.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut writers = port.writers();
            if writers.len() >= MAX_CONNECTIONS {
                port.refused.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // The map holds the only sender: when it goes (the ICE
            // connection forgotten), the task's queue ends and so does it.
            writers.insert(from, (id, tx));
        }
        tokio::spawn(serve(socket.clone(), stream, from, id, rx));
    }
}

/// One connection: frames in are routed, frames queued for it are
/// written, until either side ends it.
async fn serve(
    socket: Arc<MediaSocket>,
    stream: TcpStream,
    from: SocketAddr,
    id: u64,
    mut queued: mpsc::Receiver<Bytes>,
) {
    // Media frames are small and late ones useless: no Nagle delay.
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let peer = Peer::tcp(from);
    let mut buf = BytesMut::with_capacity(2 * MAX_FRAME);
    let mut routed_any = false;
    let mut idle = tokio::time::Instant::now() + FIRST_FRAME;
    loop {
        tokio::select! {
            // `read_buf` loses nothing when the other branch wins.
            read = rd.read_buf(&mut buf) => {
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                match frames(&mut buf) {
                    Ok(frames) => {
                        let mut ok = true;
                        for frame in frames {
                            // A frame that routes nowhere (not a binding
                            // request of a live connection, first; its
                            // connection forgotten, later) ends this one.
                            if !socket.route(peer, frame) {
                                ok = false;
                                break;
                            }
                            routed_any = true;
                            idle = tokio::time::Instant::now() + IDLE;
                        }
                        if !ok {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            out = queued.recv() => {
                let Some(frame) = out else { break };
                if wr.write_all(&frame).await.is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(idle) => {
                tracing::trace!(routed_any, "media TCP connection idle: closed");
                break;
            }
        }
    }
    if let Some(port) = socket.tcp.as_ref() {
        let mut writers = port.writers();
        if writers.get(&from).is_some_and(|(w, _)| *w == id) {
            writers.remove(&from);
        }
    }
    socket.forget_peer(peer);
}

/// A frame over [`MAX_FRAME`]: the stream is not RFC 4571 from a client.
#[derive(Debug, PartialEq, Eq)]
pub struct Oversized;

/// Takes every whole frame off the front of `buf`.
pub fn frames(buf: &mut BytesMut) -> Result<Vec<BytesMut>, Oversized> {
    let mut out = Vec::new();
    while buf.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
        if len > MAX_FRAME {
            return Err(Oversized);
        }
        if buf.len() < 2 + len {
            break;
        }
        buf.advance(2);
        out.push(buf.split_to(len));
    }
    Ok(out)
}

/// Binds the TCP port for ICE-TCP on `at`.
pub(crate) fn bind(at: SocketAddr) -> io::Result<TcpListener> {
    let std = std::net::TcpListener::bind(at)?;
    std.set_nonblocking(true)?;
    TcpListener::from_std(std)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_at_their_lengths_and_a_partial_one_waits() {
        let mut buf = BytesMut::new();
        buf.put_u16(3);
        buf.put_slice(b"abc");
        buf.put_u16(0);
        buf.put_u16(5);
        buf.put_slice(b"de");
        let got = frames(&mut buf).unwrap();
        assert_eq!(got, vec![BytesMut::from(&b"abc"[..]), BytesMut::new()]);
        assert_eq!(&buf[..], &[0, 5, b'd', b'e'], "the partial frame stays");
        buf.put_slice(b"fgh");
        assert_eq!(
            frames(&mut buf).unwrap(),
            vec![BytesMut::from(&b"defgh"[..])]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn an_oversized_frame_is_refused() {
        let mut buf = BytesMut::new();
        buf.put_u16(MAX_FRAME as u16 + 1);
        assert_eq!(frames(&mut buf), Err(Oversized));
    }
}

//! The media plane's one UDP socket. Every peer connection of every room
//! shares it: a reader task hands each datagram to the room whose
//! connection it is for, named by connection, found by the sender's
//! address, or, for the STUN binding request that comes first, by the
//! server's ICE ufrag in it. Rooms send their batches with one `sendmmsg`
//! call.
//!
//! One socket instead of one per connection is what keeps a connection
//! cheap: no socket buffers, no reader task and no channel per connection,
//! and one system call for many copies of a packet.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket as StdSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{error::TrySendError, Sender};

use crate::published::ConnId;

/// Largest datagram read (above any MTU a client uses).
const RECEIVE_MTU: usize = 1500;
/// Datagrams per `sendmmsg` call.
const BATCH: usize = 64;

/// A client's address and the transport it reached the server over: the
/// UDP port, or a TCP connection to the ICE-TCP port ([`crate::tcp`]). The
/// same address may be both (a host's UDP and TCP port spaces are apart),
/// so the transport is part of the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tcp: bool,
}

impl Peer {
    pub fn udp(addr: SocketAddr) -> Self {
        Self { addr, tcp: false }
    }

    pub fn tcp(addr: SocketAddr) -> Self {
        Self { addr, tcp: true }
    }
}

impl From<SocketAddr> for Peer {
    fn from(addr: SocketAddr) -> Self {
        Self::udp(addr)
    }
}

/// One datagram for a room, and the connection it is for.
pub struct Datagram {
    pub conn: ConnId,
    pub from: Peer,
    pub at: Instant,
    pub bytes: BytesMut,
}

/// Where a room takes its datagrams.
pub type Inbox = Sender<Datagram>;

/// A connection's room, and the connection.
#[derive(Clone)]
struct Route {
    inbox: Inbox,
    conn: ConnId,
}

#[derive(Default)]
struct Routes {
    by_addr: HashMap<Peer, Route>,
    /// With the addresses learnt for the connection, to forget with it.
    by_ufrag: HashMap<String, (Route, Vec<Peer>)>,
}

pub struct MediaSocket {
    socket: UdpSocket,
    /// What the server's UDP candidate announces: the public address
    /// behind a 1:1 NAT, or the address clients reach this host on.
    pub announced: SocketAddr,
    /// The ICE-TCP port, unless turned off.
    pub tcp: Option<crate::tcp::TcpPort>,
    routes: Mutex<Routes>,
    /// Connection ids are the plane's, so a room restarted under a new
    /// inbox never meets an id of its predecessor's.
    next_conn: AtomicU64,
    /// Datagrams dropped because their room was behind (its queue full).
    pub overflow: AtomicU64,
}

/// Where the server's ICE-TCP port goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpChoice {
    Off,
    /// The UDP port's number: the first port of the range free for both.
    SameAsUdp,
    Port(u16),
}

/// The addresses the server's candidates announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announced {
    pub udp: SocketAddr,
    pub tcp: Option<SocketAddr>,
}

impl MediaSocket {
    /// Binds the first port of `port_min..=port_max` on `bind_ip` that is
    /// free (for UDP, and for TCP too when ICE-TCP takes the same number).
    /// Must run inside the media runtime.
    pub fn bind(
        bind_ip: IpAddr,
        port_min: u16,
        port_max: u16,
        public_ip: Option<IpAddr>,
        tcp: TcpChoice,
    ) -> io::Result<Arc<Self>> {
        let ip = public_ip.unwrap_or_else(|| reachable_ip(bind_ip));
        let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no port of the range is free");
        for port in port_min..=port_max.max(port_min) {
            let socket = match StdSocket::bind(SocketAddr::new(bind_ip, port)) {
                Ok(s) => s,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let tcp = match tcp {
                TcpChoice::Off => None,
                TcpChoice::SameAsUdp => match crate::tcp::bind(SocketAddr::new(bind_ip, port)) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        last = e;
                        continue;
                    }
                },
                // A port of its own must be had, or the plane does not start.
                TcpChoice::Port(p) => Some(crate::tcp::bind(SocketAddr::new(bind_ip, p))?),
            };
            socket.set_nonblocking(true)?;
            let local = socket.local_addr()?;
            let tcp = match tcp {
                Some(listener) => {
                    let at = listener.local_addr()?;
                    Some(crate::tcp::TcpPort::new(
                        listener,
                        SocketAddr::new(ip, at.port()),
                    ))
                }
                None => None,
            };
            return Ok(Arc::new(Self {
                socket: UdpSocket::from_std(socket)?,
                announced: SocketAddr::new(ip, local.port()),
                tcp,
                routes: Mutex::new(Routes::default()),
                next_conn: AtomicU64::new(1),
                overflow: AtomicU64::new(0),
            }));
        }
        Err(last)
    }

    /// What the server's candidates announce.
    pub fn candidates(&self) -> Announced {
        Announced {
            udp: self.announced,
            tcp: self.tcp.as_ref().map(|t| t.announced),
        }
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, Routes> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Datagrams for a new connection with ICE ufrag `ufrag` go to
    /// `inbox`, under the id this answers.
    pub fn register(&self, ufrag: &str, inbox: Inbox) -> ConnId {
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.routes()
            .by_ufrag
            .insert(ufrag.to_owned(), (Route { inbox, conn }, Vec::new()));
        conn
    }

    /// A connection closed: its ufrag and the addresses it used route
    /// nowhere any more (an address another connection has taken over
    /// since stays that one's).
    pub fn forget(&self, ufrag: &str) {
        let mut routes = self.routes();
        let Some((route, addrs)) = routes.by_ufrag.remove(ufrag) else {
            return;
        };
        for a in addrs {
            if routes.by_addr.get(&a).is_some_and(|r| r.conn == route.conn) {
                routes.by_addr.remove(&a);
                if a.tcp {
                    if let Some(tcp) = &self.tcp {
                        tcp.close(a.addr);
                    }
                }
            }
        }
    }

    /// A TCP connection closed: its address routes nowhere any more.
    pub(crate) fn forget_peer(&self, peer: Peer) {
        self.routes().by_addr.remove(&peer);
    }

    /// Reads datagrams and hands each to its connection's room, until the
    /// runtime stops.
    pub async fn run_reader(self: Arc<Self>) {
        let mut buf = BytesMut::new();
        loop {
            // Datagrams are split off one large buffer, not one allocation
            // each.
            if buf.capacity() < RECEIVE_MTU {
                buf = BytesMut::with_capacity(64 * RECEIVE_MTU);
            }
            buf.resize(RECEIVE_MTU, 0);
            let (n, from) = match self.socket.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors of earlier sends surface here; never fatal.
                    tracing::trace!(error = %e, "media socket read");
                    continue;
                }
            };
            let bytes = buf.split_to(n);
            buf.clear();
            self.route(Peer::udp(from), bytes);
        }
    }

    /// Hands one datagram to its connection's room; false when it is for
    /// no connection.
    pub(crate) fn route(&self, from: Peer, bytes: BytesMut) -> bool {
        let mut guard = self.routes();
        let routes = &mut *guard;
        // A binding request names its connection; it also teaches the
        // route for the media that follows from the same address.
        let route = match crate::stun::local_ufrag(&bytes) {
            Some(ufrag) => {
                let Some((route, addrs)) = routes.by_ufrag.get_mut(ufrag) else {
                    return false;
                };
                let before = routes.by_addr.insert(from, route.clone());
                if before.is_none_or(|b| b.conn != route.conn) {
                    addrs.push(from);
                }
                route.clone()
            }
            None => match routes.by_addr.get(&from) {
                Some(route) => route.clone(),
                None => return false,
            },
        };
        drop(guard);
        let d = Datagram {
            conn: route.conn,
            from,
            at: Instant::now(),
            bytes,
        };
        match route.inbox.try_send(d) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Closed(d)) => {
                // The room is gone (stopped, or died and restarted under a
                // new inbox): drop its routes as they are met.
                let mut routes = self.routes();
                routes.by_addr.retain(|_, r| !r.inbox.is_closed());
                routes.by_ufrag.retain(|_, (r, _)| !r.inbox.is_closed());
                drop(d);
                false
            }
        }
    }

    /// Sends every datagram of `out` (emptied): UDP ones batched, TCP ones
    /// queued on their connections.
    pub async fn send_all(&self, out: &mut Vec<(Peer, BytesMut)>) {
        if out.iter().any(|(p, _)| p.tcp) {
            out.retain(|(p, d)| {
                if p.tcp {
                    if let Some(tcp) = &self.tcp {
                        tcp.send(p.addr, d);
                    }
                }
                !p.tcp
            });
        }
        let mut sent = 0;
        while sent < out.len() {
            let batch = &out[sent..(sent + BATCH).min(out.len())];
            match self
                .socket
                .try_io(Interest::WRITABLE, || sendmmsg(&self.socket, batch))
            {
                Ok(n) => sent += n.max(1),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.socket.writable().await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    // One bad destination (unreachable, refused) must not
                    // hold back the rest: skip it.
                    tracing::trace!(error = %e, to = %out[sent].0.addr, "media socket send");
                    sent += 1;
                }
            }
        }
        out.clear();
    }
}

/// The address to announce when none is configured: the bound one, or for
/// a wildcard bind, the one this host's default route leaves from (no
/// packet is sent to find it), else loopback.
fn reachable_ip(bind_ip: IpAddr) -> IpAddr {
    if !bind_ip.is_unspecified() {
        return bind_ip;
    }
    StdSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// `sockaddr` storage for one destination.
fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large and aligned enough for any
            // sockaddr.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// One `sendmmsg` call for up to [`BATCH`] datagrams; how many were sent.
fn sendmmsg(socket: &UdpSocket, batch: &[(Peer, BytesMut)]) -> io::Result<usize> {
    let mut names: Vec<(libc::sockaddr_storage, libc::socklen_t)> =
        batch.iter().map(|(a, _)| sockaddr(&a.addr)).collect();
    let mut iovecs: Vec<libc::iovec> = batch
        .iter()
        .map(|(_, b)| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = names
        .iter_mut()
        .zip(iovecs.iter_mut())
        .map(|((name, len), iov)| {
            // SAFETY: msghdr is plain data; all-zero is a valid value.
            let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
            h.msg_name = name as *mut _ as *mut libc::c_void;
            h.msg_namelen = *len;
            h.msg_iov = iov as *mut libc::iovec;
            h.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: h,
                msg_len: 0,
            }
        })
        .collect();
    // SAFETY: every header points into `names`, `iovecs` and `batch`, which
    // outlive the call; the count matches the array.
    let n = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            headers.as_mut_ptr(),
            headers.len() as libc::c_uint,
            0,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A STUN binding request with USERNAME `<ufrag>:client`.
    fn binding_request(ufrag: &str) -> Vec<u8> {
        let username = format!("{ufrag}:client");
        let mut attr = vec![0x00, 0x06];
        attr.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attr.extend_from_slice(username.as_bytes());
        attr.resize(attr.len().div_ceil(4) * 4, 0);
        let mut p = vec![0x00, 0x01];
        p.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        p.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        p.extend_from_slice(&[1; 12]);
        p.extend_from_slice(&attr);
        p
    }

    #[tokio::test]
    async fn datagrams_reach_the_room_their_ufrag_or_address_names() {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let socket = MediaSocket::bind(loopback, 48300, 48399, None, TcpChoice::Off).unwrap();
        assert_eq!(socket.announced.ip(), loopback);
        tokio::spawn(socket.clone().run_reader());
        let (inbox, mut room) = tokio::sync::mpsc::channel(16);
        let conn = socket.register("roomUfrag", inbox);
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = socket.announced;
        let next = |room: &mut tokio::sync::mpsc::Receiver<Datagram>| {
            let got = room.try_recv();
            got.ok().map(|d| (d.conn, d.from.addr, d.bytes.to_vec()))
        };

        // Unknown address, not STUN: nowhere. An unknown ufrag: nowhere.
        stranger.send_to(&[0x80; 20], to).await.unwrap();
        client.send_to(&binding_request("other"), to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(next(&mut room), None);

        // The binding request finds the room, and teaches its address.
        let request = binding_request("roomUfrag");
        client.send_to(&request, to).await.unwrap();
        client.send_to(&[0x80; 30], to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let me = client.local_addr().unwrap();
        assert_eq!(next(&mut room), Some((conn, me, request)));
        assert_eq!(next(&mut room), Some((conn, me, vec![0x80; 30])));
        stranger.send_to(&[0x80; 20], to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(next(&mut room), None, "another address is not the client");

        // The address moves to another connection (a port reused, an ICE
        // restart): forgetting the first leaves it the second's.
        let (inbox2, mut room2) = tokio::sync::mpsc::channel(16);
        let conn2 = socket.register("otherConn", inbox2);
        assert_ne!(conn, conn2);
        let request2 = binding_request("otherConn");
        client.send_to(&request2, to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(next(&mut room2), Some((conn2, me, request2)));
        socket.forget("roomUfrag");
        client.send_to(&[0x81; 30], to).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(next(&mut room2), Some((conn2, me, vec![0x81; 30])));
        assert_eq!(next(&mut room), None);

        // Once forgotten, nothing reaches either room.
        socket.forget("otherConn");
        client.send_to(&[0x80; 30], to).await.unwrap();
        client
            .send_to(&binding_request("roomUfrag"), to)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(next(&mut room), None);
        assert_eq!(next(&mut room2), None);

        // Batched sends arrive, in order.
        let mut out: Vec<_> = (0..100u8)
            .map(|i| (Peer::udp(me), BytesMut::from(&[i; 10][..])))
            .collect();
        socket.send_all(&mut out).await;
        assert!(out.is_empty());
        let mut buf = [0u8; 64];
        for i in 0..100u8 {
            let (n, from) =
                tokio::time::timeout(Duration::from_secs(2), client.recv_from(&mut buf))
                    .await
                    .expect("every datagram of the batch arrives")
                    .unwrap();
            assert_eq!((from.port(), &buf[..n]), (to.port(), &[i; 10][..]));
        }
    }

    /// One RFC 4571 frame.
    fn framed(d: &[u8]) -> Vec<u8> {
        let mut f = (d.len() as u16).to_be_bytes().to_vec();
        f.extend_from_slice(d);
        f
    }

    #[tokio::test]
    async fn tcp_connections_route_as_udp_does_and_close_with_their_connection() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::TcpStream;
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let socket = MediaSocket::bind(loopback, 48400, 48499, None, TcpChoice::SameAsUdp).unwrap();
        let tcp_at = socket.candidates().tcp.expect("a TCP port");
        assert_eq!(tcp_at, socket.announced, "the same number as the UDP port");
        tokio::spawn(socket.clone().run_reader());
        tokio::spawn(crate::tcp::run_listener(socket.clone()));
        let (inbox, mut room) = tokio::sync::mpsc::channel(16);
        let conn = socket.register("tcpUfrag", inbox);
        let wait = || tokio::time::sleep(Duration::from_millis(100));
        let closed = |mut s: TcpStream| async move {
            let mut b = [0u8; 16];
            matches!(
                tokio::time::timeout(Duration::from_secs(2), s.read(&mut b)).await,
                Ok(Ok(0) | Err(_))
            )
        };

        // A first frame that names no connection ends the connection.
        let mut stranger = TcpStream::connect(tcp_at).await.unwrap();
        stranger.write_all(&framed(&[0x80; 20])).await.unwrap();
        assert!(closed(stranger).await, "a stranger is hung up on");
        // So does a frame no client sends.
        let mut oversized = TcpStream::connect(tcp_at).await.unwrap();
        oversized.write_all(&[0xff, 0xff, 0, 0]).await.unwrap();
        assert!(closed(oversized).await);
        assert!(room.try_recv().is_err(), "neither reached the room");

        // The binding request routes, split across writes as TCP may.
        let mut client = TcpStream::connect(tcp_at).await.unwrap();
        let me = Peer::tcp(client.local_addr().unwrap());
        let request = binding_request("tcpUfrag");
        let mut stream = framed(&request);
        stream.extend(framed(&[0x80; 30]));
        let (a, b) = stream.split_at(7);
        client.write_all(a).await.unwrap();
        wait().await;
        client.write_all(b).await.unwrap();
        wait().await;
        let got: Vec<_> = std::iter::from_fn(|| room.try_recv().ok())
            .map(|d| (d.conn, d.from, d.bytes.to_vec()))
            .collect();
        assert_eq!(got, vec![(conn, me, request), (conn, me, vec![0x80; 30])]);

        // What goes to it is framed on its connection, not sent by UDP.
        let mut out = vec![(me, BytesMut::from(&b"hello"[..]))];
        socket.send_all(&mut out).await;
        let mut back = [0u8; 7];
        tokio::time::timeout(Duration::from_secs(2), client.read_exact(&mut back))
            .await
            .expect("the frame arrives")
            .unwrap();
        assert_eq!(&back, &framed(b"hello")[..]);

        // Forgotten, its connection closes.
        socket.forget("tcpUfrag");
        assert!(
            closed(client).await,
            "the connection ends with its ICE connection"
        );
        assert_eq!(socket.tcp.as_ref().unwrap().open(), 0);
    }
}

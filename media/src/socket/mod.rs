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
    /// When no port of the range is free for both (a TCP port can be held
    /// by an outgoing connection's ephemeral port), the plane starts on UDP
    /// alone and says so: media for most clients beats none for all. A
    /// TCP port of its own ([`TcpChoice::Port`]) must be had.
    /// Must run inside the media runtime.
    pub fn bind(
        bind_ip: IpAddr,
        port_min: u16,
        port_max: u16,
        public_ip: Option<IpAddr>,
        tcp: TcpChoice,
    ) -> io::Result<Arc<Self>> {
        let ip = public_ip.unwrap_or_else(|| reachable_ip(bind_ip));
        let ports = port_min..=port_max.max(port_min);
        let (socket, listener) = match tcp {
            TcpChoice::Off => (first_free(ports, |p| udp(bind_ip, p))?, None),
            TcpChoice::Port(p) => (
                first_free(ports, |p| udp(bind_ip, p))?,
                Some(crate::tcp::bind(SocketAddr::new(bind_ip, p))?),
            ),
            TcpChoice::SameAsUdp => {
                let both = first_free(ports.clone(), |p| {
                    let socket = udp(bind_ip, p)?;
                    Ok((socket, crate::tcp::bind(SocketAddr::new(bind_ip, p))?))
                });
                match both {
                    Ok((socket, listener)) => (socket, Some(listener)),
                    Err(e) => {
                        tracing::warn!(error = %e, "no media port of the range is free for both UDP and TCP: ICE over TCP is off");
                        (first_free(ports, |p| udp(bind_ip, p))?, None)
                    }
                }
            }
        };
        let local = socket.local_addr()?;
        let tcp = match listener {
            Some(listener) => {
                let at = listener.local_addr()?;
                Some(crate::tcp::TcpPort::new(
                    listener,
                    SocketAddr::new(ip, at.port()),
                ))
            }
            None => None,
        };
        Ok(Arc::new(Self {
            socket: UdpSocket::from_std(socket)?,
            announced: SocketAddr::new(ip, local.port()),
            tcp,
            routes: Mutex::new(Routes::default()),
            next_conn: AtomicU64::new(1),
            overflow: AtomicU64::new(0),
        }))
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

/// A non-blocking UDP socket on `port`.
fn udp(ip: IpAddr, port: u16) -> io::Result<StdSocket> {
    let socket = StdSocket::bind(SocketAddr::new(ip, port))?;
    socket.set_nonblocking(true)?;
    if ip.is_ipv4() {
        dont_fragment(&socket);
    }
    Ok(socket)
}

/// Sends with the don't-fragment bit set and the path MTU not tracked, as
/// QUIC stacks do: media packets are sized to fit any path (about 1,200
/// bytes), and Linux's default (DF set, yet fragmenting locally when
/// allowed) draws a hashed IP ID for every datagram, a shared counter
/// that took 4 % of the server's time at 11,000 copies a second.
fn dont_fragment(socket: &StdSocket) {
    let probe: libc::c_int = libc::IP_PMTUDISC_PROBE;
    // SAFETY: the option's value is a live c_int of the length passed.
    let failed = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            std::ptr::from_ref(&probe).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if failed != 0 {
        // Sending works as before; only the IP ID costs more.
        tracing::debug!(error = %io::Error::last_os_error(), "IP_MTU_DISCOVER");
    }
}

/// What `bind` gives for the first port of `ports` it succeeds on; the
/// last error when it succeeds on none.
fn first_free<T>(
    ports: std::ops::RangeInclusive<u16>,
    mut bind: impl FnMut(u16) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no port of the range is free");
    for port in ports {
        match bind(port) {
            Ok(t) => return Ok(t),
            Err(e) => last = e,
        }
    }
    Err(last)
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
mod tests;

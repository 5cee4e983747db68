//! The webrtc runtime the server's connections use: tokio's, except that UDP
//! sockets do not coalesce received datagrams (GRO). With GRO, webrtc sizes
//! two receive buffers of 96 KB per connection for coalesced reads; a server
//! connection carries a few hundred packets a second, which gain nothing
//! from it, and 24 connections spent 6.9 MB of heap on those buffers
//! (heaptrack, docs/performance.md). Without GRO the buffers are 2 KB.

use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, RecvMeta, Runtime,
    TokioRuntime, Transmit,
};

#[derive(Debug)]
pub struct NoGroRuntime(TokioRuntime);

impl Default for NoGroRuntime {
    fn default() -> Self {
        Self(TokioRuntime)
    }
}

impl Runtime for NoGroRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.0.spawn(future)
    }

    fn spawn_reactor(
        &self,
        pool: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.0.spawn_reactor(pool, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        #[cfg(target_os = "linux")]
        let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
        let inner = self.0.wrap_udp_socket(socket)?;
        // Set after tokio's wrapper, which turns GRO on where it can.
        #[cfg(target_os = "linux")]
        {
            let off: libc::c_int = 0;
            // SAFETY: `fd` is the open socket `inner` owns; the option value
            // is a c_int that outlives the call.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_UDP,
                    libc::UDP_GRO,
                    std::ptr::from_ref(&off).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc != 0 && inner.max_gro_segments() > 1 {
                // Coalesced reads would not fit the small buffers.
                return Ok(inner);
            }
        }
        Ok(Arc::new(NoGro(inner)))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.0.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.0.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.0.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.0.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.0.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.0.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.0.block_on(future)
    }

    fn name(&self) -> &'static str {
        "tokio-no-gro"
    }
}

/// A socket that says it never coalesces, so webrtc gives it plain buffers.
struct NoGro(Arc<dyn AsyncUdpSocket>);

impl fmt::Debug for NoGro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NoGro").field(&self.0).finish()
    }
}

impl AsyncUdpSocket for NoGro {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.0.poll_send(cx, transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_recv(cx, bufs, meta)
    }

    fn max_gso_segments(&self) -> usize {
        self.0.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        1
    }
}

//! A TCP proxy a test or the load tool puts in front of PostgreSQL: it can
//! delay every chunk (injected database latency) or go down (an outage).
//! Shared by `tests/` and `benches/load.rs` (included by path).

use std::sync::Arc;
use std::time::Duration;

/// A TCP proxy in front of PostgreSQL that a test can take down: down, it
/// cuts every open connection and refuses new ones, which is what the
/// server sees when PostgreSQL is stopped; up, it forwards again.
pub struct TcpProxy {
    pub port: u16,
    /// Added to every chunk forwarded in either direction.
    delay: Arc<std::sync::atomic::AtomicU64>,
    up: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl TcpProxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a proxy port");
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        let delay = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (accept_up, accept_links, accept_delay) = (up.clone(), links.clone(), delay.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !accept_up.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let delay = accept_delay.clone();
                let link = tokio::spawn(async move {
                    if let Ok(server) = tokio::net::TcpStream::connect(target).await {
                        // Without it, Nagle and delayed acknowledgements
                        // add 40 ms stalls no database has.
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        let (c_read, c_write) = client.into_split();
                        let (s_read, s_write) = server.into_split();
                        tokio::join!(
                            pipe(c_read, s_write, delay.clone()),
                            pipe(s_read, c_write, delay)
                        );
                    }
                });
                accept_links.lock().unwrap().push(link.abort_handle());
            }
        });
        Self {
            port,
            delay,
            up,
            links,
        }
    }

    /// Every chunk waits this long before it is passed on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay.store(
            delay.as_millis() as u64,
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// `url` (a PostgreSQL URL on 127.0.0.1 or localhost) through this proxy.
    pub fn url_for(&self, url: &str) -> String {
        let after_at = url.find('@').map_or(url.find("//").unwrap() + 2, |i| i + 1);
        let rest = &url[after_at..];
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        format!("{}127.0.0.1:{}{}", &url[..after_at], self.port, path)
    }

    pub fn down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    pub fn up(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Where `url` (a PostgreSQL URL) points, resolved.
pub fn postgres_addr(url: &str) -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let after_at = url.find('@').map_or(url.find("//").unwrap() + 2, |i| i + 1);
    let rest = &url[after_at..];
    let host_port = rest.split(['/', '?']).next().unwrap();
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    host_port
        .to_socket_addrs()
        .expect("a resolvable PostgreSQL host")
        .next()
        .expect("an address")
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let ms = delay.load(std::sync::atomic::Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

//! The webhook client: one HTTP/1.1 POST per attempt, on a connection of
//! its own, to an address the [`guard`](super::guard) allowed. The name is
//! resolved here and the connection goes to exactly the address that was
//! checked (no second lookup a name could answer differently). TLS is
//! rustls with the Mozilla roots (webpki-roots), so no system package is
//! needed; HTTP/2 is never offered, and redirects are not followed (a
//! redirect is an answer like any other non-2xx).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::guard::{check_url, resolve, Policy, Unreachable};

/// How an attempt failed, in fixed words an account may read (no
/// address, name or certificate detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The endpoint answered with this status.
    Status(u16),
    Other(&'static str),
}

impl Failure {
    pub fn describe(&self) -> String {
        match self {
            Failure::Status(s) => format!("answered {s}"),
            Failure::Other(why) => (*why).to_owned(),
        }
    }
}

pub struct Client {
    tls: TlsConnector,
    policy: Policy,
}

/// One request to send.
pub struct Post<'a> {
    pub url: &'a str,
    pub headers: &'a [(&'a str, String)],
    pub body: String,
}

impl Client {
    pub fn new(policy: Policy) -> Self {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut config = ClientConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            tls: TlsConnector::from(Arc::new(config)),
            policy,
        }
    }

    /// Sends `post` within `timeout` (connection included); answers the
    /// 2xx status, or why not.
    pub async fn send(&self, post: Post<'_>, timeout: Duration) -> Result<u16, Failure> {
        match tokio::time::timeout(timeout, self.attempt(post)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Other("timed out")),
        }
    }

    async fn attempt(&self, post: Post<'_>) -> Result<u16, Failure> {
        let uri = check_url(post.url, self.policy)
            .map_err(|_| Failure::Other("the URL is no longer allowed"))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().ok_or(Failure::Other("the URL has no host"))?;
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let stream = self.connect(&bare, port).await?;
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let mut request = hyper::Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "Conclave-Webhooks/1");
        for (name, value) in post.headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(post.body)))
            .map_err(|_| Failure::Other("the request could not be built"))?;
        let status = if https {
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(bare)
                .map_err(|_| Failure::Other("the host is not a valid TLS name"))?;
            let tls = self
                .tls
                .connect(name, stream)
                .await
                .map_err(|_| Failure::Other("the TLS handshake failed"))?;
            exchange(TokioIo::new(tls), request).await?
        } else {
            exchange(TokioIo::new(stream), request).await?
        };
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(Failure::Status(status))
        }
    }

    /// Connects to the first allowed address of `host` that answers.
    async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, Failure> {
        let addresses = resolve(host, port, self.policy)
            .await
            .map_err(|e| match e {
                Unreachable::Unresolved => Failure::Other("the name does not resolve"),
                Unreachable::NotPublic => {
                    Failure::Other("the name does not resolve to an allowed address")
                }
            })?;
        let mut last = Failure::Other("cannot connect");
        for addr in addresses {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    last = Failure::Other("connection refused");
                }
                Err(_) => last = Failure::Other("cannot connect"),
            }
        }
        Err(last)
    }
}

async fn exchange<T>(io: T, request: hyper::Request<Full<Bytes>>) -> Result<u16, Failure>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|_| Failure::Other("the connection failed"))?;
    // Drives the connection; it ends with the exchange (nothing reuses it).
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|_| Failure::Other("the connection failed while sending"))?;
    Ok(response.status().as_u16())
}

//! How the media plane meets the network: see docs/media.md for the
//! firewall rules these imply.

use std::net::IpAddr;

/// An ICE server handed to clients (STUN, or TURN with credentials). The
/// server itself runs none. Its debug output hides the credential.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl std::fmt::Debug for IceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The data key of a summary, for sealing its recordings: given by the
/// server, which made the key when the summary began.
pub type KeyLookup =
    dyn Fn(conclave_actors::SessionId) -> Option<crate::sealed_file::FileKey> + Send + Sync;

/// How recordings are keyed. `Clear` writes them as they are (the media
/// crate's own tests and the load tool); `Sealed` refuses to record a
/// summary whose key it cannot find rather than write it in clear.
#[derive(Clone, Default)]
pub enum RecordingKeys {
    #[default]
    Clear,
    Sealed(std::sync::Arc<KeyLookup>),
}

impl std::fmt::Debug for RecordingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordingKeys::Clear => "Clear",
            RecordingKeys::Sealed(_) => "Sealed(<keys>)",
        })
    }
}

#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// The address the media socket binds.
    pub bind_ip: IpAddr,
    /// Inclusive UDP port range: the media port is the first free one.
    pub port_min: u16,
    pub port_max: u16,
    /// Behind a 1:1 NAT: the public address announced instead of the
    /// private one.
    pub public_ip: Option<IpAddr>,
    /// The ICE-TCP port (docs/media.md "ICE over TCP").
    pub tcp: crate::socket::TcpChoice,
    /// Divide each subscriber's estimated bandwidth among its videos
    /// (docs/media.md "Bandwidth"); on by default.
    pub adapt_to_bandwidth: bool,
    /// Passed to clients for their own gathering (TURN for restrictive
    /// networks).
    pub ice_servers: Vec<IceServer>,
    /// Threads of the media runtime.
    pub threads: usize,
    /// Where recordings are written (`<dir>/<conference>/<session>/`).
    pub recordings_dir: std::path::PathBuf,
    pub recording_keys: RecordingKeys,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::from([0, 0, 0, 0]),
            port_min: 40000,
            port_max: 49999,
            public_ip: None,
            tcp: crate::socket::TcpChoice::SameAsUdp,
            adapt_to_bandwidth: true,
            ice_servers: Vec::new(),
            threads: 2,
            recordings_dir: std::path::PathBuf::from("recordings"),
            recording_keys: RecordingKeys::Clear,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_turn_credential_never_shows_in_debug_output() {
        let s = super::IceServer {
            urls: vec!["turn:t.example.org".into()],
            username: Some("u".into()),
            credential: Some("hunter2".into()),
        };
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}

//! Server configuration: defaults, then an optional TOML file, then
//! environment variables and command-line flags (clap merges those two).
//! `main` builds a [`Config`] once and hands it to [`crate::run`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::secrets::{GatewaySecret, SecretKey};

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Failure counting and lockout (sign-in and conference joins).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failures allowed per key (client address, account, conference) in one window.
    pub max_failures: u32,
    /// The sliding window, in seconds.
    pub window_secs: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures: 10,
            window_secs: 15 * 60,
        }
    }
}

/// The bounded pool that runs argon2 verifications.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct HashingConfig {
    /// argon2 computations running at once.
    pub workers: usize,
    /// Requests allowed to wait for a worker; past this they are refused as busy.
    pub queue: usize,
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 64,
        }
    }
}

/// Everything the server needs to start. Secrets are optional here: when
/// absent they are generated into the data directory on first start.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP and WebSocket listener binds.
    pub bind: SocketAddr,
    /// Directory for the embedded SQLite store, generated secrets and uploads.
    pub data_dir: PathBuf,
    /// PostgreSQL URL; when unset the embedded SQLite store is used.
    pub database_url: Option<String>,
    /// PostgreSQL schema to use (created if missing); `public` when unset.
    pub database_schema: Option<String>,
    /// The URL users reach the server at (links, WebSocket origin default).
    pub public_url: Option<String>,
    /// Origins allowed to open a WebSocket; the public URL's origin when empty.
    pub allowed_origins: Vec<String>,
    /// Log output format.
    pub log_format: LogFormat,
    /// HTTP worker threads; the number of cores when unset.
    pub http_workers: Option<usize>,
    /// Kernel send buffer per client connection, in bytes; the kernel
    /// tunes it (up to several MiB) when unset. A small one bounds the
    /// memory a client that stops reading can hold and lets the server
    /// notice it sooner (docs/websocket.md).
    pub tcp_send_buffer_bytes: Option<usize>,
    /// Largest document a participant may share, in bytes (25 MiB).
    pub max_document_bytes: u64,
    /// How long a sign-in token stays valid, in hours.
    pub session_ttl_hours: i64,
    /// How long after its end a scheduled conference's code still admits, in minutes.
    pub scheduled_grace_minutes: i64,
    /// Sign-in failure throttling.
    pub signin_throttle: ThrottleConfig,
    /// Conference join failure throttling.
    pub join_throttle: ThrottleConfig,
    /// The ceiling on unknown access codes typed through the whole
    /// telephony gateway, all calls and connections together.
    pub gateway_throttle: ThrottleConfig,
    /// argon2 verification pool.
    pub hashing: HashingConfig,
    /// Key for keyed hashes (security codes, phone-number index); hex, 32 bytes.
    pub hmac_key: Option<SecretKey>,
    /// Key for encryption at rest (phone numbers); hex, 32 bytes.
    pub encryption_key: Option<SecretKey>,
    /// The secret a telephony gateway presents on `/gateway`; the gateway
    /// endpoint is off when unset. At least 16 characters.
    pub gateway_secret: Option<GatewaySecret>,
    /// Room history written asynchronously (docs/persistence.md).
    pub persistence: PersistenceConfig,
    /// WebRTC media: ports, the announced address, ICE servers for
    /// clients (docs/media.md).
    pub media: MediaSettings,
    /// The waiting room's limits (docs/room.md).
    pub waiting_room: WaitingRoomConfig,
    /// Webhook delivery (docs/webhooks.md).
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// The SIP edge for phone dial-in; off when unset (docs/phone.md).
    pub sip: Option<crate::sip::SipConfig>,
    /// How often the retention job runs (docs/privacy.md "Retention").
    pub retention: crate::retention::RetentionConfig,
}

/// How many may wait, and how long someone a moderator denied must stay
/// away before waiting again.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct WaitingRoomConfig {
    pub max_waiting: usize,
    /// People waiting from one client address at most.
    pub max_waiting_per_address: usize,
    pub deny_cooldown_secs: u64,
    /// Nobody let them in by then: they are told so and the wait ends.
    pub max_wait_secs: u64,
}

impl Default for WaitingRoomConfig {
    fn default() -> Self {
        Self {
            max_waiting: 100,
            max_waiting_per_address: 3,
            deny_cooldown_secs: 600,
            max_wait_secs: 900,
        }
    }
}

/// The media plane's network settings (docs/media.md has the firewall
/// rules they imply).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSettings {
    /// Off: rooms carry signalling and chat only.
    pub enabled: bool,
    /// The address media sockets bind; `0.0.0.0` means every non-loopback
    /// interface.
    pub bind_ip: std::net::IpAddr,
    /// Inclusive UDP port range; the media port is the first free one.
    pub port_min: u16,
    pub port_max: u16,
    /// Behind a 1:1 NAT: the public address announced in candidates.
    pub public_ip: Option<std::net::IpAddr>,
    /// ICE over TCP (RFC 6544), for clients whose network lets no UDP
    /// through: a passive TCP candidate beside the UDP one.
    pub tcp: bool,
    /// Its port: by default the UDP port's number (the first of the range
    /// free for both); 443 reaches networks that allow only HTTPS.
    pub tcp_port: Option<u16>,
    /// Divide each subscriber's estimated bandwidth (the server's own
    /// estimate, from transport-wide feedback) among its videos, and probe
    /// for more (docs/media.md "Bandwidth"). On by default.
    pub adapt_to_bandwidth: bool,
    /// STUN/TURN servers handed to clients in the `joined` reply.
    pub ice_servers: Vec<conclave_media::IceServer>,
    /// Threads of the media runtime.
    pub threads: usize,
    /// Two web participants alone talk end to end (unless recording).
    pub peer_to_peer: bool,
    /// A coturn server whose short-lived credentials each participant gets
    /// (docs/media.md "TURN").
    pub turn: Option<crate::turn::TurnConfig>,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bind_ip: std::net::IpAddr::from([0, 0, 0, 0]),
            port_min: 40000,
            port_max: 49999,
            public_ip: None,
            tcp: true,
            tcp_port: None,
            adapt_to_bandwidth: true,
            ice_servers: Vec::new(),
            threads: 2,
            peer_to_peer: true,
            turn: None,
        }
    }
}

/// How much room history may wait for the database, and how long a
/// graceful shutdown waits for it to be written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PersistenceConfig {
    /// Events waiting to be written before rooms refuse new work.
    pub max_pending_events: usize,
    /// Seconds a graceful shutdown waits for unwritten events.
    pub shutdown_flush_secs: u64,
    /// Seconds an acknowledgement of a lock, permission or block change
    /// waits for its commit before answering `durable: false`.
    pub durable_ack_wait_secs: u64,
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        Self {
            max_pending_events: 50_000,
            shutdown_flush_secs: 30,
            durable_ack_wait_secs: 5,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_schema: None,
            public_url: None,
            allowed_origins: Vec::new(),
            log_format: LogFormat::Human,
            http_workers: None,
            tcp_send_buffer_bytes: None,
            max_document_bytes: 25 * 1024 * 1024,
            session_ttl_hours: 24 * 30,
            scheduled_grace_minutes: 30,
            signin_throttle: ThrottleConfig::default(),
            join_throttle: ThrottleConfig::default(),
            gateway_throttle: ThrottleConfig::default(),
            hashing: HashingConfig::default(),
            hmac_key: None,
            encryption_key: None,
            persistence: PersistenceConfig::default(),
            gateway_secret: None,
            media: MediaSettings::default(),
            waiting_room: WaitingRoomConfig::default(),
            webhooks: Default::default(),
            sip: None,
            retention: Default::default(),
        }
    }
}

/// Why the configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

/// Values given on the command line or in the environment; each wins over
/// the file when set.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub bind: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub database_schema: Option<String>,
    pub public_url: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub log_format: Option<LogFormat>,
    pub hmac_key: Option<String>,
    pub encryption_key: Option<String>,
    pub gateway_secret: Option<String>,
}

impl Config {
    /// Defaults, then `file` when given, then `overrides`; validated.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply(overrides)?;
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            // toml's message quotes the offending line, which may hold a key:
            // keep only the description.
            message: e.message().to_owned(),
        })
    }

    fn apply(&mut self, o: Overrides) -> Result<(), ConfigError> {
        if let Some(v) = o.bind {
            self.bind = v;
        }
        if let Some(v) = o.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = o.database_url.filter(|v| !v.is_empty()) {
            self.database_url = Some(v);
        }
        if let Some(v) = o.database_schema.filter(|v| !v.is_empty()) {
            self.database_schema = Some(v);
        }
        if let Some(v) = o.public_url.filter(|v| !v.is_empty()) {
            self.public_url = Some(v);
        }
        if let Some(v) = o.allowed_origins {
            self.allowed_origins = v;
        }
        if let Some(v) = o.log_format {
            self.log_format = v;
        }
        if let Some(v) = o.hmac_key {
            self.hmac_key = Some(SecretKey::from_hex("CONCLAVE_HMAC_KEY", &v)?);
        }
        if let Some(v) = o.encryption_key {
            self.encryption_key = Some(SecretKey::from_hex("CONCLAVE_ENCRYPTION_KEY", &v)?);
        }
        if let Some(v) = o.gateway_secret.filter(|v| !v.is_empty()) {
            self.gateway_secret = Some(GatewaySecret::new(v)?);
        }
        Ok(())
    }

    /// Refuses settings the server cannot run with; errors name the
    /// setting, never a secret's value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |name, message: &str| ConfigError::Invalid {
            name,
            message: message.to_owned(),
        };
        if self.session_ttl_hours <= 0 {
            return Err(invalid("session_ttl_hours", "must be positive"));
        }
        if self.scheduled_grace_minutes < 0 {
            return Err(invalid("scheduled_grace_minutes", "must not be negative"));
        }
        for (name, t) in [
            ("signin_throttle", &self.signin_throttle),
            ("join_throttle", &self.join_throttle),
            ("gateway_throttle", &self.gateway_throttle),
        ] {
            if t.max_failures == 0 || t.window_secs == 0 {
                return Err(invalid(
                    name,
                    "max_failures and window_secs must be positive",
                ));
            }
        }
        let w = &self.waiting_room;
        if w.max_waiting == 0 || w.max_waiting_per_address == 0 || w.max_wait_secs == 0 {
            return Err(invalid(
                "waiting_room",
                "max_waiting, max_waiting_per_address and max_wait_secs must be positive",
            ));
        }
        if self.retention.interval_secs == 0 {
            return Err(invalid("retention", "interval_secs must be positive"));
        }
        if let Some(problem) = self.media.turn.as_ref().and_then(|t| t.problem()) {
            return Err(invalid("media.turn", problem));
        }
        if self.gateway_secret.as_ref().is_some_and(|g| g.len() < 16) {
            return Err(invalid("gateway_secret", "must be at least 16 characters"));
        }
        if self.max_document_bytes == 0 {
            return Err(invalid("max_document_bytes", "must be positive"));
        }
        if self.persistence.max_pending_events == 0 {
            return Err(invalid(
                "persistence.max_pending_events",
                "must be positive",
            ));
        }
        if self.media.port_min == 0 || self.media.port_min > self.media.port_max {
            return Err(invalid(
                "media.port_min",
                "ports must be 1 to 65535 with port_min <= port_max",
            ));
        }
        if self.media.tcp_port == Some(0) {
            return Err(invalid(
                "media.tcp_port",
                "must be a port number (1 to 65535)",
            ));
        }
        if self.media.threads == 0 {
            return Err(invalid("media.threads", "must be positive"));
        }
        if self.hashing.workers == 0 {
            return Err(invalid("hashing.workers", "must be positive"));
        }
        if let Some(schema) = &self.database_schema {
            let ok = !schema.is_empty()
                && schema.len() <= 63
                && schema
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !schema.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(invalid(
                    "database_schema",
                    "lower-case letters, digits and _, at most 63, not starting with a digit",
                ));
            }
        }
        Ok(())
    }

    /// The origins allowed to open a WebSocket: the configured list, else the
    /// public URL's origin, else the address the server listens on (`bound`:
    /// the listener's, which names the port a bind to port 0 got).
    pub fn websocket_origins(&self, bound: SocketAddr) -> Vec<String> {
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.clone();
        }
        match &self.public_url {
            Some(url) => vec![url.trim_end_matches('/').to_owned()],
            None => vec![format!("http://{bound}")],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_readme() {
        let c = Config::load(None, Overrides::default()).expect("defaults are valid");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.database_url.is_none());
        assert_eq!(c.join_throttle.max_failures, 10);
        assert_eq!(c.join_throttle.window_secs, 900);
        assert_eq!(c.websocket_origins(c.bind), vec!["http://127.0.0.1:8080"]);
        let bound = "127.0.0.1:41234".parse().unwrap();
        assert_eq!(c.websocket_origins(bound), vec!["http://127.0.0.1:41234"]);
    }

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conclave.toml");
        std::fs::write(
            &path,
            "bind = \"0.0.0.0:9000\"\npublic_url = \"https://meet.example.org/\"\n[join_throttle]\nmax_failures = 3\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            Overrides {
                bind: Some("127.0.0.1:7000".parse().unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:7000");
        assert_eq!(c.join_throttle.max_failures, 3);
        assert_eq!(c.join_throttle.window_secs, 900);
        assert_eq!(
            c.websocket_origins(c.bind),
            vec!["https://meet.example.org"]
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "bnid = \"x\"\n").unwrap();
        assert!(matches!(
            Config::load(Some(&path), Overrides::default()),
            Err(ConfigError::Parse { .. })
        ));
        for bad in ["session_ttl_hours = 0\n", "[media]\ntcp_port = 0\n"] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                matches!(
                    Config::load(Some(&path), Overrides::default()),
                    Err(ConfigError::Invalid { .. })
                ),
                "{bad}"
            );
        }
        std::fs::write(&path, "[media]\ntcp_port = 443\n").unwrap();
        let c = Config::load(Some(&path), Overrides::default()).unwrap();
        assert_eq!((c.media.tcp, c.media.tcp_port), (true, Some(443)));
        let bad_key = Overrides {
            hmac_key: Some("zz".into()),
            ..Default::default()
        };
        let err = Config::load(None, bad_key).unwrap_err().to_string();
        assert!(err.contains("CONCLAVE_HMAC_KEY"));
        assert!(!err.contains("zz"), "the bad value is not echoed: {err}");
    }

    #[test]
    fn schema_names_are_checked() {
        let o = Overrides {
            database_schema: Some("x; drop table accounts".into()),
            ..Default::default()
        };
        assert!(Config::load(None, o).is_err());
    }
}

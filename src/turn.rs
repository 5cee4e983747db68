//! Short-lived TURN credentials (docs/media.md "TURN"): the shared-secret
//! scheme coturn implements (`use-auth-secret` with `static-auth-secret`).
//! The user name is the expiry time (Unix seconds) and the participant's
//! id, `1700000600:<id>`; the password is base64 of HMAC-SHA1 of the user
//! name keyed with the secret. coturn checks both without asking Conclave,
//! and refuses the credential once it expired. The secret never leaves the
//! server: each participant gets its own credential in `joined`.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;

/// `[media.turn]` in the configuration file.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TurnConfig {
    /// The coturn server's URLs, as clients use them:
    /// `turn:turn.example.org:3478?transport=udp`, `…?transport=tcp`,
    /// `turns:turn.example.org:443?transport=tcp`.
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`; at least 16 characters.
    pub secret: String,
    /// How long a credential works, in seconds (60 to 86,400).
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
}

fn default_ttl() -> u64 {
    3600
}

impl fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnConfig")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ttl_secs", &self.ttl_secs)
            .finish()
    }
}

impl TurnConfig {
    /// What is wrong with it, in words that never hold the secret.
    pub fn problem(&self) -> Option<&'static str> {
        if self.urls.is_empty() {
            return Some("urls: name at least one turn: or turns: URL");
        }
        if !self
            .urls
            .iter()
            .all(|u| u.starts_with("turn:") || u.starts_with("turns:"))
        {
            return Some("urls: each starts with turn: or turns:");
        }
        if self.secret.chars().count() < 16 {
            return Some("secret: at least 16 characters");
        }
        if !(60..=86_400).contains(&self.ttl_secs) {
            return Some("ttl_secs: between 60 and 86400");
        }
        None
    }

    /// The ICE server entry for `user` (a participant id), valid from
    /// `now` (Unix seconds) for `ttl_secs`.
    pub fn credential(&self, user: &str, now: i64) -> conclave_media::IceServer {
        let expires = now.saturating_add(i64::try_from(self.ttl_secs).unwrap_or(3600));
        let username = format!("{expires}:{user}");
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(self.secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(username.as_bytes());
        conclave_media::IceServer {
            urls: self.urls.clone(),
            username: Some(username),
            credential: Some(B64.encode(mac.finalize().into_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> TurnConfig {
        TurnConfig {
            urls: vec!["turn:turn.example.org:3478?transport=tcp".into()],
            secret: "a shared secret for coturn".into(),
            ttl_secs: 600,
        }
    }

    #[test]
    fn credentials_follow_the_shared_secret_scheme() {
        // Computed apart, with Python's hmac and hashlib.
        let c = config().credential("4f1c2a9e-0000-4000-8000-000000000001", 1_700_000_000);
        assert_eq!(
            c.username.as_deref(),
            Some("1700000600:4f1c2a9e-0000-4000-8000-000000000001")
        );
        assert_eq!(
            c.credential.as_deref(),
            Some("TB8ardVwN3exGXkQn/IL0lmy3t4=")
        );
        assert_eq!(c.urls, config().urls);
    }

    #[test]
    fn bad_settings_are_named_without_the_secret() {
        assert_eq!(config().problem(), None);
        let mut c = config();
        c.secret = "short".into();
        assert!(c.problem().unwrap().starts_with("secret"));
        let mut c = config();
        c.urls = vec!["stun:x".into()];
        assert!(c.problem().is_some());
        let mut c = config();
        c.ttl_secs = 10;
        assert!(c.problem().is_some());
        assert!(
            !format!("{:?}", config()).contains("coturn"),
            "the secret is redacted"
        );
    }
}

//! Server secrets: the HMAC key (security codes, phone-number index) and the
//! encryption key (phone numbers at rest). Taken from the configuration when
//! given, else generated on first start into the data directory with mode
//! 0600. A [`SecretKey`] never prints its bytes, so it cannot reach a log.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::RngCore;
use serde::{Deserialize, Deserializer};

use crate::config::ConfigError;

/// A 32-byte key. `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// A fresh key from the operating system's generator.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A key from its bytes (a data key opened from the store).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex digits; the error names the setting, never the value.
    pub fn from_hex(name: &'static str, hex_text: &str) -> Result<Self, ConfigError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_text.trim(), &mut bytes).map_err(|_| ConfigError::Invalid {
            name,
            message: "must be 64 hexadecimal digits (32 bytes)".into(),
        })?;
        Ok(Self(bytes))
    }

    /// The key's bytes, for the keyed hash and cipher that use it.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for SecretKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SecretKey::from_hex("secret key", &text).map_err(serde::de::Error::custom)
    }
}

/// The shared secret a telephony gateway presents (`Authorization: Bearer`).
/// `Debug` prints a placeholder; comparison takes the same time wherever the
/// inputs differ.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct GatewaySecret(String);

impl GatewaySecret {
    /// At least 16 characters; the error names the setting, never the value.
    pub fn new(value: String) -> Result<Self, ConfigError> {
        if value.chars().count() < 16 {
            return Err(ConfigError::Invalid {
                name: "gateway_secret",
                message: "must be at least 16 characters".into(),
            });
        }
        Ok(Self(value))
    }

    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        crate::crypto::constant_time_eq(
            &Sha256::digest(self.0.as_bytes()),
            &Sha256::digest(presented.as_bytes()),
        )
    }

    pub fn len(&self) -> usize {
        self.0.chars().count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for GatewaySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GatewaySecret(<redacted>)")
    }
}

/// The secrets the running server uses.
#[derive(Clone, Debug)]
pub struct ServerSecrets {
    pub hmac_key: SecretKey,
    pub encryption_key: SecretKey,
}

impl ServerSecrets {
    /// Configured keys win; a missing one is read from, or generated into,
    /// `data_dir/<name>.key`.
    pub fn load(
        data_dir: &Path,
        hmac_key: Option<SecretKey>,
        encryption_key: Option<SecretKey>,
    ) -> std::io::Result<Self> {
        let hmac_key = match hmac_key {
            Some(k) => k,
            None => load_or_generate(&data_dir.join("hmac.key"))?,
        };
        let encryption_key = match encryption_key {
            Some(k) => k,
            None => load_or_generate(&data_dir.join("encryption.key"))?,
        };
        Ok(Self {
            hmac_key,
            encryption_key,
        })
    }
}

fn load_or_generate(path: &Path) -> std::io::Result<SecretKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "secret key file is readable by others; chmod 600 it");
            }
            SecretKey::from_hex("secret key file", &text).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            // create_new: two servers starting at once must not overwrite each
            // other's key; the loser reads the winner's.
            let mut file = match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return load_or_generate(path)
                }
                Err(e) => return Err(e),
            };
            file.write_all(hex::encode(key.expose()).as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "generated a new server secret");
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_with_mode_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServerSecrets::load(dir.path(), None, None).unwrap();
        let mode = std::fs::metadata(dir.path().join("hmac.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = ServerSecrets::load(dir.path(), None, None).unwrap();
        assert_eq!(first.hmac_key, second.hmac_key);
        assert_ne!(first.hmac_key, first.encryption_key);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = SecretKey::from_hex("k", &"ab".repeat(32)).unwrap();
        let printed = format!("{key:?}");
        assert!(!printed.contains("abab"));
    }

    #[test]
    fn configured_keys_win() {
        let dir = tempfile::tempdir().unwrap();
        let k = SecretKey::from_hex("k", &"01".repeat(32)).unwrap();
        let s = ServerSecrets::load(dir.path(), Some(k.clone()), Some(k.clone())).unwrap();
        assert_eq!(s.hmac_key, k);
        assert!(!dir.path().join("hmac.key").exists());
    }
}

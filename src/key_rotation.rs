//! The server's encryption key against the store: the check made at start
//! (a server given another key than the one its data was sealed with
//! refuses to start, rather than write data nobody can read together with
//! data it cannot read), and `conclave keys rotate`, which re-seals every
//! value the key seals (docs/encryption.md). Files are sealed by the
//! summaries' own keys, so a rotation never touches them.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::crypto::{open, open_bound, seal, seal_bound};
use crate::secrets::SecretKey;
use crate::store::sealed::{Resealed, Sealed};
use crate::store::{Store, StoreError};
use crate::summary_keys::{unwrap, wrap};

const CHECK_CONTEXT: &[u8] = b"conclave/key-check/v1";
const CHECK: &[u8] = b"the encryption key of this Conclave store";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the encryption key does not open this store's data: the server was given another key than the one its data was sealed with (docs/encryption.md)")]
    WrongKey,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("key file {path}: {error}")]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Usage(&'static str),
}

/// Where a rotation leaves the new key until its transaction commits.
fn next_path(data_dir: &Path) -> PathBuf {
    data_dir.join("encryption.key.next")
}

fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("encryption.key")
}

fn opens(key: &SecretKey, check: &[u8]) -> bool {
    open_bound(key, CHECK_CONTEXT, check).as_deref() == Some(CHECK)
}

fn read_key(path: &Path) -> Result<SecretKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|error| KeyError::File {
        path: path.to_owned(),
        error,
    })?;
    SecretKey::from_hex("key file", &text).map_err(|e| KeyError::File {
        path: path.to_owned(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })
}

/// Checks `key` against the store at start and answers the key to use.
/// A store without a check gets one for `key`. When the key file's key
/// does not open the check but a rotation's new key (left beside it) does,
/// the rotation committed and only its last rename was lost: it is
/// finished here.
pub async fn check(
    store: &dyn Store,
    key: SecretKey,
    data_dir: &Path,
    from_file: bool,
) -> Result<SecretKey, KeyError> {
    let stored = store
        .key_check(seal_bound(&key, CHECK_CONTEXT, CHECK))
        .await?;
    let next = next_path(data_dir);
    if opens(&key, &stored) {
        // A rotation that never committed: its new key is of no use.
        if from_file && next.exists() {
            let _ = std::fs::remove_file(&next);
        }
        return Ok(key);
    }
    if from_file && next.exists() {
        let new = read_key(&next)?;
        if opens(&new, &stored) {
            std::fs::rename(&next, key_path(data_dir))
                .map_err(|error| KeyError::File { path: next, error })?;
            tracing::info!("finished an interrupted encryption key rotation");
            return Ok(new);
        }
    }
    Err(KeyError::WrongKey)
}

/// Re-seals what `old` seals under `new`, in one transaction.
pub async fn reseal(
    store: &dyn Store,
    old: &SecretKey,
    new: &SecretKey,
) -> Result<Resealed, KeyError> {
    let (old, new) = (old.clone(), new.clone());
    let with = Arc::new(move |what: Sealed, bytes: &[u8]| match what {
        Sealed::SummaryKey(session) => {
            unwrap(&old, session, bytes).map(|k| wrap(&new, session, &k))
        }
        Sealed::Value => open(&old, bytes).map(|plain| seal(&new, &plain)),
        Sealed::Check => open_bound(&old, CHECK_CONTEXT, bytes)
            .map(|plain| seal_bound(&new, CHECK_CONTEXT, &plain)),
    });
    match store.reseal(with).await {
        Err(StoreError::Conflict(_)) => Err(KeyError::WrongKey),
        other => Ok(other?),
    }
}

/// `conclave keys rotate`: a new encryption key (generated, or read from
/// `new_key_file`) re-seals every summary key and every value sealed by
/// the server's key. With the key in the data directory, the new key
/// replaces it; a configured key must be replaced in the configuration by
/// the operator, so the new one must come from a file they hold.
pub async fn rotate(
    store: &dyn Store,
    current: &SecretKey,
    data_dir: &Path,
    from_file: bool,
    new_key_file: Option<&Path>,
) -> Result<Resealed, KeyError> {
    let current = check(store, current.clone(), data_dir, from_file).await?;
    // A server running on the store would go on sealing with the old key
    // what no one could open after its restart with the new one.
    let recent =
        chrono::Utc::now().timestamp_millis() - 2 * crate::node::HEARTBEAT.as_millis() as i64;
    if store.nodes_alive_since(recent).await? > 0 {
        return Err(KeyError::Usage(
            "a server is running on this store (a heartbeat in the last minute): stop every server first, then rotate",
        ));
    }
    let new = match new_key_file {
        Some(path) => read_key(path)?,
        None if from_file => SecretKey::generate(),
        None => {
            return Err(KeyError::Usage(
                "the encryption key is configured, not in the data directory: give the new one with --new-key-file",
            ))
        }
    };
    if new == current {
        return Err(KeyError::Usage("the new key is the current key"));
    }
    let next = next_path(data_dir);
    if from_file {
        // Kept before the commit, so no crash can leave data sealed under a
        // key that exists nowhere; `check` finishes the rename.
        write_private(&next, &new)?;
    }
    let done = match reseal(store, &current, &new).await {
        Ok(done) => done,
        Err(e) => {
            if from_file {
                let _ = std::fs::remove_file(&next);
            }
            return Err(e);
        }
    };
    if from_file {
        std::fs::rename(&next, key_path(data_dir))
            .map_err(|error| KeyError::File { path: next, error })?;
    }
    Ok(done)
}

fn write_private(path: &Path, key: &SecretKey) -> Result<(), KeyError> {
    let fail = |error| KeyError::File {
        path: path.to_owned(),
        error,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(hex::encode(key.expose()).as_bytes())
        .map_err(fail)?;
    file.sync_all().map_err(fail)
}

//! The account export (docs/persistence.md "Exporting an account"): one
//! tar archive of everything the account holds, as JSON a person can read,
//! with the recordings' files and a manifest of every entry's size and
//! SHA-256. It is streamed: files are read and sent a piece at a time, so
//! a large account never needs its size in memory.

use std::io::{Read, Write};

use actix_web::{http::header, web, HttpResponse};
use bytes::Bytes;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::auth::Authed;
use super::contacts::ContactView;
use super::history::{audit_views, chat_views, session_views};
use crate::error::{AppError, Problem};
use crate::rooms::Rooms;
use crate::services::Services;

const ROOT: &str = "conclave-export";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/account/export").route(web::get().to(export)))
        .service(
            web::resource("/account/erasures")
                .route(web::post().to(super::erasure::erase_participant)),
        );
}

/// What goes into the archive, in order.
enum Entry {
    Json(String, Value),
    /// A file on disk, under its name in the archive.
    File(String, std::path::PathBuf),
}

fn json_of<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The finished recordings of a conference: each folder with a manifest,
/// the manifest itself and the files it lists.
fn recordings(dir: &std::path::Path, prefix: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let Ok(folders) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut folders: Vec<_> = folders.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    folders.sort();
    for folder in folders {
        let Some(id) = folder
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
        else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(folder.join("manifest.json")) else {
            continue;
        };
        let Ok(manifest) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        out.push(Entry::File(
            format!("{prefix}/recordings/{id}/manifest.json"),
            folder.join("manifest.json"),
        ));
        for track in manifest["tracks"].as_array().into_iter().flatten() {
            // Names the media plane wrote; anything else is never joined.
            let Some(name) = track["file"].as_str() else {
                continue;
            };
            let plain = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
                && !name.starts_with('.');
            if plain && folder.join(name).is_file() {
                out.push(Entry::File(
                    format!("{prefix}/recordings/{id}/{name}"),
                    folder.join(name),
                ));
            }
        }
    }
    out
}

/// Everything the account holds, as archive entries.
async fn entries(
    services: &Services,
    rooms: &Rooms,
    authed: &Authed,
) -> Result<Vec<Entry>, AppError> {
    let account = &authed.account;
    let store = &services.store;
    let conferences = store.conferences(account.id).await?;
    let mut out = vec![
        Entry::Json(
            "account.json".into(),
            json_of(super::accounts::AccountView::from(account)),
        ),
        Entry::Json(
            "conferences.json".into(),
            json_of(
                conferences
                    .iter()
                    .map(super::conferences::ConferenceView::from)
                    .collect::<Vec<_>>(),
            ),
        ),
        Entry::Json(
            "contacts.json".into(),
            json_of(
                store
                    .contacts(account.id)
                    .await?
                    .into_iter()
                    .map(|r| ContactView::new(services, r))
                    .collect::<Vec<_>>(),
            ),
        ),
        Entry::Json(
            "api_keys.json".into(),
            Value::Array(
                store
                    .api_keys(account.id)
                    .await?
                    .into_iter()
                    .map(|k| json!({"id": k.id, "name": k.name, "created_at": k.created_at, "revoked_at": k.revoked_at}))
                    .collect(),
            ),
        ),
        Entry::Json(
            "webhooks.json".into(),
            Value::Array(
                store
                    .webhook_endpoints(account.id)
                    .await?
                    .into_iter()
                    .map(|e| json!({"id": e.id, "url": e.url, "events": e.events, "created_at": e.created_at}))
                    .collect(),
            ),
        ),
    ];
    for c in &conferences {
        let prefix = format!("conferences/{}", c.id);
        out.push(Entry::Json(
            format!("{prefix}/sessions.json"),
            json_of(session_views(services, c.id).await?),
        ));
        out.push(Entry::Json(
            format!("{prefix}/audit.json"),
            json_of(audit_views(services, c.id).await?),
        ));
        out.push(Entry::Json(
            format!("{prefix}/chat.json"),
            json_of(chat_views(services, c.id).await?),
        ));
        let dir = rooms.recordings.join(c.id.to_string());
        let found = web::block(move || recordings(&dir, &prefix))
            .await
            .map_err(|_| AppError::Internal)?;
        out.extend(found);
    }
    Ok(out)
}

/// Sends what the archive writer writes, 64 KiB at a time.
struct Sink {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Sink {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the download stopped")
        })
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Reads through while hashing what it read.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hash.update(&out[..n]);
        Ok(n)
    }
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Writes the archive: every entry, then `manifest.json`.
fn write(entries: Vec<Entry>, sink: Sink) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(sink);
    let mut manifest = Vec::new();
    for entry in entries {
        let (name, size, sha256) = match entry {
            Entry::Json(name, value) => {
                let bytes = serde_json::to_vec_pretty(&value).unwrap_or_default();
                let path = format!("{ROOT}/{name}");
                tar.append_data(&mut header(bytes.len() as u64), &path, bytes.as_slice())?;
                (
                    name,
                    bytes.len() as u64,
                    hex::encode(Sha256::digest(&bytes)),
                )
            }
            Entry::File(name, path) => {
                let file = std::fs::File::open(&path)?;
                let size = file.metadata()?.len();
                let mut reading = Hashing {
                    inner: file.take(size),
                    hash: Sha256::new(),
                };
                tar.append_data(&mut header(size), format!("{ROOT}/{name}"), &mut reading)?;
                (name, size, hex::encode(reading.hash.finalize()))
            }
        };
        manifest.push(json!({"path": name, "bytes": size, "sha256": sha256}));
    }
    let body = serde_json::to_vec_pretty(&json!({
        "format": "conclave-export/1",
        "exported_at": chrono::Utc::now().to_rfc3339(),
        "entries": manifest,
    }))
    .unwrap_or_default();
    tar.append_data(
        &mut header(body.len() as u64),
        format!("{ROOT}/manifest.json"),
        body.as_slice(),
    )?;
    let mut sink = tar.into_inner()?;
    sink.flush()
}

/// Everything the account holds, as one tar archive.
#[utoipa::path(get, path = "/api/v1/account/export", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, description = "a tar archive (`application/x-tar`): `conclave-export/` with account.json, conferences.json, contacts.json, api_keys.json, webhooks.json, per conference sessions.json (attendance, numbers in full), audit.json, chat.json and recordings/, and manifest.json with every entry's size and SHA-256"),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn export(
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    authed: Authed,
) -> Result<HttpResponse, AppError> {
    let list = entries(&services, &rooms, &authed).await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let account = authed.account.id;
    let failed = tx.clone();
    tokio::task::spawn_blocking(move || {
        let sink = Sink {
            tx,
            buf: Vec::with_capacity(64 * 1024),
        };
        if let Err(e) = write(list, sink) {
            tracing::warn!(%account, error = %e, "the account export stopped");
            let _ = failed.blocking_send(Err(e));
        }
    });
    tracing::info!(%account, "account exported");
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let date = chrono::Utc::now().format("%Y-%m-%d");
    Ok(HttpResponse::Ok()
        .content_type("application/x-tar")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"conclave-export-{date}.tar\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(stream))
}

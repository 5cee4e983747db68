//! The account export (docs/persistence.md "Exporting an account"): one
//! tar archive of everything the account holds, as JSON a person can read,
//! with the documents' and recordings' files and a manifest of every
//! entry's size and SHA-256. It is streamed in bounded memory: each
//! conference's history is read a page at a time and spooled to disk
//! (`export_archive.rs`), files are read a piece at a time, and at most one
//! finished entry waits for the archive writer.

use actix_web::{http::header, web, HttpResponse};
use chrono::{DateTime, Utc};
use conclave_actors::ConferenceId;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::auth::Authed;
use super::contacts::ContactView;
use super::export_archive::{write, Entry, Sink, Spool};
use super::history::{session_views, AuditView, ChatView};
use crate::error::{AppError, Problem};
use crate::rooms::Rooms;
use crate::services::Services;
use crate::store::{Conference, DocumentRow, Page};

/// Rows read from the store at a time.
const PAGE: u32 = 250;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/account/export").route(web::get().to(export)))
        .service(
            web::resource("/account/erasures")
                .route(web::post().to(super::erasure::erase_participant)),
        );
}

fn json_of<T: serde::Serialize>(v: T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// One shared document's metadata (`documents.json`); the bytes of one
/// still shared are under `documents/<id>`.
#[derive(Serialize)]
struct DocumentView {
    id: uuid::Uuid,
    session: uuid::Uuid,
    /// The name its sender gave (never part of a path in the archive).
    name: String,
    content_type: String,
    bytes: i64,
    uploaded_by: uuid::Uuid,
    uploaded_at: DateTime<Utc>,
    removed_at: Option<DateTime<Utc>>,
}

impl From<DocumentRow> for DocumentView {
    fn from(d: DocumentRow) -> Self {
        DocumentView {
            id: d.id,
            session: d.session,
            name: d.name,
            content_type: d.content_type,
            bytes: d.size,
            uploaded_by: d.uploaded_by,
            uploaded_at: time(d.uploaded_at),
            removed_at: d.removed_at.map(time),
        }
    }
}

/// The bytes of the documents still shared (a meeting under way, whose
/// key seals them): files the server named by a document id; a
/// half-written upload is skipped.
fn shared_documents(
    folder: &std::path::Path,
    prefix: &str,
    key: conclave_media::sealed_file::FileKey,
) -> Vec<Entry> {
    let Ok(files) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut found: Vec<_> = files
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let id = uuid::Uuid::try_parse(e.file_name().to_str()?).ok()?;
            e.file_type().ok()?.is_file().then(|| (id, e.path()))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(id, path)| Entry::Sealed(format!("{prefix}/documents/{id}"), path, key))
        .collect()
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The finished recordings of a conference: each folder with a manifest,
/// the manifest itself and the files it lists, with the summary each
/// recording belongs to (whose key seals its media files).
fn recordings(dir: &std::path::Path, prefix: &str) -> Vec<(uuid::Uuid, Entry)> {
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
        let Some((session, _)) = super::recordings::parse_id(&id) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(folder.join("manifest.json")) else {
            continue;
        };
        let Ok(manifest) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        out.push((
            session,
            Entry::File(
                format!("{prefix}/recordings/{id}/manifest.json"),
                folder.join("manifest.json"),
            ),
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
                out.push((
                    session,
                    Entry::File(
                        format!("{prefix}/recordings/{id}/{name}"),
                        folder.join(name),
                    ),
                ));
            }
        }
    }
    out
}

/// The account's own records, small enough to build whole.
async fn account_entries(
    services: &Services,
    authed: &Authed,
    conferences: &[Conference],
) -> Result<Vec<Entry>, AppError> {
    let account = &authed.account;
    let store = &services.store;
    Ok(vec![
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
    ])
}

/// Why a conference's entries stopped.
enum Stop {
    /// The download went away: nobody is waiting for the rest.
    Gone,
    Failed(String),
}

impl From<AppError> for Stop {
    fn from(e: AppError) -> Self {
        Stop::Failed(format!("{e:?}"))
    }
}

impl From<crate::store::StoreError> for Stop {
    fn from(e: crate::store::StoreError) -> Self {
        Stop::Failed(e.to_string())
    }
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        Stop::Failed(e.to_string())
    }
}

/// Reads pages of a conference's history into one spooled array. `read`
/// gives the page after a row id; `id` names a row for the next page.
async fn spool<T, F, Fut>(
    rooms: &Rooms,
    mut read: F,
    id: fn(&T) -> uuid::Uuid,
) -> Result<std::fs::File, Stop>
where
    T: Serialize,
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, Stop>>,
{
    let mut out = Spool::new(rooms.spool.clone()).await?;
    let mut page = Page::first(PAGE);
    loop {
        let rows = read(page).await?;
        for row in &rows {
            out.push(row).await?;
        }
        match rows.last() {
            Some(last) if rows.len() == PAGE as usize => page.after = Some(id(last)),
            _ => return Ok(out.finish().await?),
        }
    }
}

/// One link of the organisation's audit chain (`audit_chain.json`).
#[derive(Serialize)]
struct LinkView {
    seq: i64,
    kind: String,
    /// What a deletion, erasure or export did (counts); `null` for a
    /// moderator action, which the link holds by digest only.
    detail: Option<serde_json::Value>,
    at: DateTime<Utc>,
    entry: String,
    digest: String,
    prev: String,
    hash: String,
}

/// The audit chain of the account's organisation, which holds the links
/// of its own actions (links hold digests, pseudonyms and counts, nothing
/// of another member's data), spooled a page at a time.
async fn chain_entry(services: &Services, rooms: &Rooms, chain: uuid::Uuid) -> Result<Entry, Stop> {
    let mut out = Spool::new(rooms.spool.clone()).await?;
    let mut after = 0;
    loop {
        let links = services.store.chain_links(chain, after, PAGE).await?;
        for l in &links {
            out.push(&LinkView {
                seq: l.seq,
                kind: l.kind.clone(),
                detail: l
                    .detail
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok()),
                at: time(l.at),
                entry: hex::encode(&l.entry),
                digest: hex::encode(&l.digest),
                prev: hex::encode(&l.prev),
                hash: hex::encode(&l.hash),
            })
            .await?;
        }
        match links.last() {
            Some(last) if links.len() == PAGE as usize => after = last.seq,
            _ => {
                return Ok(Entry::Spooled(
                    "audit_chain.json".into(),
                    out.finish().await?,
                ))
            }
        }
    }
}

/// Everything one conference holds, sent entry by entry.
async fn conference_entries(
    services: &Services,
    rooms: &Rooms,
    conference: ConferenceId,
    to: &mpsc::Sender<Entry>,
) -> Result<(), Stop> {
    let prefix = format!("conferences/{}", conference.0);
    let send = |entry: Entry| async move { to.send(entry).await.map_err(|_| Stop::Gone) };
    let store = &services.store;

    let file = spool(
        rooms,
        |p| async move { Ok(session_views(services, conference, p).await?) },
        |s| s.id(),
    )
    .await?;
    send(Entry::Spooled(format!("{prefix}/sessions.json"), file)).await?;
    let file = spool(
        rooms,
        |p| async move {
            let rows = store.audit_log(conference, p).await?;
            Ok(rows.into_iter().map(AuditView::from).collect())
        },
        AuditView::id,
    )
    .await?;
    send(Entry::Spooled(format!("{prefix}/audit.json"), file)).await?;
    let file = spool(
        rooms,
        |p| async move {
            let rows = services.unsealer().chat_log(conference, p).await?;
            Ok(rows.into_iter().map(ChatView::from).collect())
        },
        ChatView::id,
    )
    .await?;
    send(Entry::Spooled(format!("{prefix}/chat.json"), file)).await?;

    let file = spool(
        rooms,
        |p| async move {
            let rows = services.unsealer().documents(conference, p).await?;
            Ok(rows.into_iter().map(DocumentView::from).collect())
        },
        |d: &DocumentView| d.id,
    )
    .await?;
    send(Entry::Spooled(format!("{prefix}/documents.json"), file)).await?;
    // Only a meeting under way has documents on disk, under its key.
    if let Some((_, key)) = services.summary_keys.live_in(conference) {
        let folder = rooms.files.folder(conference);
        let prefix_now = prefix.clone();
        let key = *key.expose();
        let shared = web::block(move || shared_documents(&folder, &prefix_now, key))
            .await
            .map_err(|_| Stop::Failed("the documents could not be listed".into()))?;
        for entry in shared {
            send(entry).await?;
        }
    }

    let dir = rooms.recordings.join(conference.0.to_string());
    let found = web::block(move || recordings(&dir, &prefix))
        .await
        .map_err(|_| Stop::Failed("the recordings could not be listed".into()))?;
    let mut unsealer = services.unsealer();
    for (session, entry) in found {
        let entry = match (entry, unsealer.file_key(session).await?) {
            (Entry::File(name, path), Some(key)) if !name.ends_with("/manifest.json") => {
                Entry::Sealed(name, path, *key.expose())
            }
            (entry, _) => entry,
        };
        send(entry).await?;
    }
    Ok(())
}

/// Everything the account holds, as one tar archive.
#[utoipa::path(get, path = "/api/v1/account/export", tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, description = "a tar archive (`application/x-tar`): `conclave-export/` with account.json, conferences.json, contacts.json, api_keys.json, webhooks.json, audit_chain.json (the tamper-evident audit chain), per conference sessions.json (attendance, numbers in full), audit.json, chat.json, documents.json with documents/ (the bytes of documents still shared) and recordings/, and manifest.json with every entry's size and SHA-256 (an archive without it stopped part-way)"),
    (status = 401, description = "`unauthorized`", body = Problem, content_type = "application/problem+json"),
))]
pub async fn export(
    services: web::Data<Services>,
    rooms: web::Data<Rooms>,
    authed: Authed,
) -> Result<HttpResponse, AppError> {
    // What fails before the first byte is answered as an error; what fails
    // later stops the archive before its manifest.
    let conferences = services.store.conferences(authed.account.id).await?;
    let first = account_entries(&services, &authed, &conferences).await?;
    services
        .chain(
            authed.account.id,
            "account_exported",
            json!({"conferences": conferences.len()}),
        )
        .await?;
    let (account, organisation) = (authed.account.id, authed.account.organisation);
    let (entries, mut arriving) = mpsc::channel::<Entry>(1);
    actix_web::rt::spawn(async move {
        let chain = chain_entry(&services, &rooms, organisation).await;
        if let Err(stop) = async { entries.send(chain?).await.map_err(|_| Stop::Gone) }.await {
            if let Stop::Failed(why) = stop {
                tracing::warn!(%account, error = %why, "the account export could not read everything");
                let _ = entries.send(Entry::Failed).await;
            }
            return;
        }
        for c in &conferences {
            match conference_entries(&services, &rooms, c.id, &entries).await {
                Ok(()) => {}
                Err(Stop::Gone) => return,
                Err(Stop::Failed(why)) => {
                    tracing::warn!(%account, error = %why, "the account export could not read everything");
                    let _ = entries.send(Entry::Failed).await;
                    return;
                }
            }
        }
    });
    let (tx, mut rx) = mpsc::channel(4);
    let failed = tx.clone();
    tokio::task::spawn_blocking(move || {
        let sink = Sink {
            tx,
            buf: Vec::with_capacity(64 * 1024),
        };
        let all = first
            .into_iter()
            .chain(std::iter::from_fn(|| arriving.blocking_recv()));
        if let Err(e) = write(all, sink) {
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

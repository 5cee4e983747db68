//! Per-summary data keys (docs/encryption.md). Each meeting (a summary)
//! gets a random 256-bit key when it opens; the key seals its seats'
//! names and numbers, its chat, its documents' names, and the bytes of
//! its documents and recordings. The store keeps the key only wrapped by
//! the server's encryption key, in the summary's own row, so deleting the
//! summary destroys the key and with it whatever copy of those bytes
//! survives elsewhere.
//!
//! Summaries written before encryption at rest have no key: their rows
//! read as they were stored (names in clear, numbers sealed by the
//! server's key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use conclave_actors::{ConferenceId, SessionId};
use uuid::Uuid;

use crate::error::AppError;
use crate::secrets::SecretKey;
use crate::store::{AttendanceRow, ChatRow, DocumentRow, Page, SharedStore};

pub(crate) const B64: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::STANDARD_NO_PAD;

/// What a wrapped key is bound to: its summary's id.
fn wrap_context(session: Uuid) -> Vec<u8> {
    let mut c = b"conclave/summary-key/v1:".to_vec();
    c.extend_from_slice(session.as_bytes());
    c
}

/// Wraps `key` for the store, bound to `session`.
pub fn wrap(server: &SecretKey, session: Uuid, key: &SecretKey) -> Vec<u8> {
    crate::crypto::seal_bound(server, &wrap_context(session), key.expose())
}

/// Opens a wrapped key; `None` when the server key or the summary differ.
pub fn unwrap(server: &SecretKey, session: Uuid, wrapped: &[u8]) -> Option<SecretKey> {
    let bytes = crate::crypto::open_bound(server, &wrap_context(session), wrapped)?;
    Some(SecretKey::from_bytes(bytes.try_into().ok()?))
}

/// A text column's stored form under a summary key: the sealed bytes in
/// base64 (the columns stay text on both stores).
pub fn seal_text(key: &SecretKey, text: &str) -> String {
    B64.encode(crate::crypto::seal(key, text.as_bytes()))
}

pub fn open_text(key: &SecretKey, stored: &str) -> Option<String> {
    let sealed = B64.decode(stored).ok()?;
    String::from_utf8(crate::crypto::open(key, &sealed)?).ok()
}

/// An account-level name sealed by the server's key (a contact's, a
/// block's), opened; one written before those were sealed is in clear and
/// comes back as it is (a clear name never opens: it is not base64 of a
/// nonce, a ciphertext and a tag made with this key).
pub fn open_or_clear(key: &SecretKey, stored: String) -> String {
    open_text(key, &stored).unwrap_or(stored)
}

/// The keys of the summaries under way on this server, which the rooms'
/// persistence, the recorder and document uploads seal with.
pub struct SummaryKeys {
    server: SecretKey,
    live: Mutex<HashMap<SessionId, (ConferenceId, SecretKey)>>,
}

impl SummaryKeys {
    pub fn new(server: SecretKey) -> Arc<Self> {
        Arc::new(Self {
            server,
            live: Mutex::new(HashMap::new()),
        })
    }

    fn live_map(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, (ConferenceId, SecretKey)>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A summary opens: makes its key and answers it wrapped, for its row.
    pub fn begin(&self, conference: ConferenceId, session: SessionId) -> Vec<u8> {
        let key = SecretKey::generate();
        let wrapped = wrap(&self.server, session.0, &key);
        self.live_map().insert(session, (conference, key));
        wrapped
    }

    /// The summary closed: its key is forgotten here (the row keeps it).
    pub fn end(&self, session: SessionId) {
        self.live_map().remove(&session);
    }

    /// The key of a summary under way here.
    pub fn live(&self, session: SessionId) -> Option<SecretKey> {
        self.live_map().get(&session).map(|(_, k)| k.clone())
    }

    /// The summary under way in `conference` here, and its key.
    pub fn live_in(&self, conference: ConferenceId) -> Option<(SessionId, SecretKey)> {
        self.live_map()
            .iter()
            .find(|(_, (c, _))| *c == conference)
            .map(|(s, (_, k))| (*s, k.clone()))
    }

    pub fn server(&self) -> &SecretKey {
        &self.server
    }
}

/// A history row whose sealed column is a name.
trait Named {
    fn session(&self) -> Uuid;
    fn name(&mut self) -> &mut String;
}

impl Named for AttendanceRow {
    fn session(&self) -> Uuid {
        self.session
    }
    fn name(&mut self) -> &mut String {
        &mut self.name
    }
}

impl Named for DocumentRow {
    fn session(&self) -> Uuid {
        self.session
    }
    fn name(&mut self) -> &mut String {
        &mut self.name
    }
}

/// How one summary's values were sealed.
#[derive(Clone)]
enum Sealing {
    /// Written before encryption at rest.
    Clear,
    Key(SecretKey),
}

/// Most summary keys a reader keeps at once: an export walks thousands of
/// summaries, a page of them at a time.
const CACHED: usize = 1024;

/// Opens the sealed columns of history rows for a reader (reports,
/// export, erasure), fetching each summary's key once.
pub struct Unsealer {
    store: SharedStore,
    server: SecretKey,
    keys: HashMap<Uuid, Sealing>,
}

fn unreadable() -> AppError {
    tracing::error!("a sealed value does not open with its summary's key");
    AppError::Internal
}

impl Unsealer {
    pub fn new(store: SharedStore, server: SecretKey) -> Self {
        Self {
            store,
            server,
            keys: HashMap::new(),
        }
    }

    /// Fetches the keys of `sessions` not known yet.
    async fn learn(&mut self, sessions: impl IntoIterator<Item = Uuid>) -> Result<(), AppError> {
        let mut missing: Vec<Uuid> = sessions
            .into_iter()
            .filter(|s| !self.keys.contains_key(s))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        if self.keys.len() + missing.len() > CACHED {
            self.keys.clear();
        }
        let found: HashMap<Uuid, Vec<u8>> = self
            .store
            .session_keys(missing.clone())
            .await?
            .into_iter()
            .collect();
        for s in missing {
            let sealing = match found.get(&s) {
                None => Sealing::Clear,
                Some(w) => Sealing::Key(unwrap(&self.server, s, w).ok_or_else(unreadable)?),
            };
            self.keys.insert(s, sealing);
        }
        Ok(())
    }

    fn sealing(&self, session: Uuid) -> &Sealing {
        self.keys.get(&session).unwrap_or(&Sealing::Clear)
    }

    /// A stored text column of `session`, opened.
    fn text(&self, session: Uuid, stored: String) -> Result<String, AppError> {
        match self.sealing(session) {
            Sealing::Clear => Ok(stored),
            // A removed document's name is blanked, not sealed.
            Sealing::Key(_) if stored.is_empty() => Ok(stored),
            Sealing::Key(k) => open_text(k, &stored).ok_or_else(unreadable),
        }
    }

    /// A seat's phone number, opened.
    pub fn phone(&self, row: &AttendanceRow) -> Option<String> {
        let sealed = row.phone_sealed.as_deref()?;
        let key = match self.sealing(row.session) {
            Sealing::Clear => &self.server,
            Sealing::Key(k) => k,
        };
        String::from_utf8(crate::crypto::open(key, sealed)?).ok()
    }

    /// What to store for `name` in a row of `session` (an erasure's
    /// tombstone); the session's key must have been learnt.
    pub fn seal_name(&self, session: Uuid, name: &str) -> String {
        match self.sealing(session) {
            Sealing::Clear => name.to_owned(),
            Sealing::Key(k) => seal_text(k, name),
        }
    }

    /// Opens `rows` of many summaries with `open` (which opens one row's
    /// text columns with its summary's sealing).
    async fn open_rows<R>(
        &mut self,
        rows: Vec<R>,
        session: impl Fn(&R) -> Uuid,
        open: impl Fn(&Self, R) -> Result<R, AppError>,
    ) -> Result<Vec<R>, AppError> {
        self.learn(rows.iter().map(&session)).await?;
        rows.into_iter().map(|r| open(self, r)).collect()
    }

    /// Rows whose one sealed column is a name, opened.
    async fn open_names<R: Named>(&mut self, rows: Vec<R>) -> Result<Vec<R>, AppError> {
        self.open_rows(rows, R::session, |u, mut r| {
            let name = std::mem::take(r.name());
            *r.name() = u.text(r.session(), name)?;
            Ok(r)
        })
        .await
    }

    /// A page of a conference's seats, names opened.
    pub async fn attendance(
        &mut self,
        conference: ConferenceId,
        page: Page,
    ) -> Result<Vec<AttendanceRow>, AppError> {
        let rows = self.store.attendance(conference, page).await?;
        self.open_names(rows).await
    }

    /// A page of a conference's chat, names and text opened.
    pub async fn chat_log(
        &mut self,
        conference: ConferenceId,
        page: Page,
    ) -> Result<Vec<ChatRow>, AppError> {
        let rows = self.store.chat_log(conference, page).await?;
        self.open_rows(
            rows,
            |r| r.session,
            |u, mut r| {
                r.sender_name = u.text(r.session, std::mem::take(&mut r.sender_name))?;
                r.text = r.text.map(|t| u.text(r.session, t)).transpose()?;
                Ok(r)
            },
        )
        .await
    }

    /// A page of a conference's documents, names opened.
    pub async fn documents(
        &mut self,
        conference: ConferenceId,
        page: Page,
    ) -> Result<Vec<DocumentRow>, AppError> {
        let rows = self.store.documents(conference, page).await?;
        self.open_names(rows).await
    }

    /// The key of a finished summary's files (its recordings); `None` for
    /// a summary written in clear.
    pub async fn file_key(&mut self, session: Uuid) -> Result<Option<SecretKey>, AppError> {
        self.learn([session]).await?;
        Ok(match self.sealing(session) {
            Sealing::Clear => None,
            Sealing::Key(k) => Some(k.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_opens_only_for_its_summary_and_server_key() {
        let server = SecretKey::generate();
        let key = SecretKey::generate();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let wrapped = wrap(&server, a, &key);
        assert_eq!(unwrap(&server, a, &wrapped), Some(key.clone()));
        assert_eq!(
            unwrap(&server, b, &wrapped),
            None,
            "moved to another summary"
        );
        assert_eq!(unwrap(&SecretKey::generate(), a, &wrapped), None);
        let text = seal_text(&key, "Zoë, \"the\" =chair");
        // A whole word, not two letters: two letters turn up in base64 by chance.
        assert!(!text.contains("=chair"));
        assert_eq!(
            open_text(&key, &text).as_deref(),
            Some("Zoë, \"the\" =chair")
        );
        assert_eq!(open_text(&SecretKey::generate(), &text), None);
    }

    #[test]
    fn live_keys_are_found_by_summary_and_by_conference_until_the_end() {
        let keys = SummaryKeys::new(SecretKey::generate());
        let (c, s) = (ConferenceId::new(), SessionId::new());
        let wrapped = keys.begin(c, s);
        let key = keys.live(s).unwrap();
        assert_eq!(unwrap(keys.server(), s.0, &wrapped), Some(key.clone()));
        assert_eq!(keys.live_in(c).map(|(s, _)| s), Some(s));
        keys.end(s);
        assert!(keys.live(s).is_none() && keys.live_in(c).is_none());
    }
}

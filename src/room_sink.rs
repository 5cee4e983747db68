//! What the server does with a room's events besides fanning them out: it
//! persists them (through [`PersistSink`]) and deletes the bytes of removed
//! documents. A session's documents live as long as the session: when the
//! room closes, the bytes of every document still shared are deleted and
//! the documents recorded as removed (docs/room.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use conclave_actors::room::RoomSink;
use conclave_actors::room_state::{Event, Millis};
use conclave_actors::{ConferenceId, DocumentId, SessionId};

use crate::documents::DocumentFiles;
use crate::persist::PersistSink;

pub struct ServerSink {
    pub persist: Arc<PersistSink>,
    pub files: Arc<DocumentFiles>,
    /// Documents still shared, per live session.
    shared: Mutex<HashMap<SessionId, Vec<DocumentId>>>,
}

impl ServerSink {
    pub fn new(persist: Arc<PersistSink>, files: Arc<DocumentFiles>) -> Self {
        Self {
            persist,
            files,
            shared: Mutex::default(),
        }
    }
}

impl RoomSink for ServerSink {
    fn opened(&self, conference: ConferenceId, session: SessionId, at: Millis) {
        self.persist.opened(conference, session, at);
    }

    fn record(
        &self,
        conference: ConferenceId,
        session: SessionId,
        event: &Event,
        at: Millis,
    ) -> u64 {
        match event {
            Event::DocumentAdded(d) => {
                let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                shared.entry(session).or_default().push(d.id);
            }
            Event::DocumentRemoved { document, .. } => {
                self.files.delete_later(conference, *document);
                let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(list) = shared.get_mut(&session) {
                    list.retain(|d| d != document);
                }
            }
            _ => {}
        }
        self.persist.record(conference, session, event, at)
    }

    fn closed(&self, conference: ConferenceId, session: SessionId, at: Millis) {
        let left = self
            .shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&session)
            .unwrap_or_default();
        for document in left {
            self.files.delete_later(conference, document);
            self.persist.document_expired(document, at);
        }
        self.persist.closed(conference, session, at);
    }

    fn backlogged(&self) -> bool {
        self.persist.backlogged()
    }
}

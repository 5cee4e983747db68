//! What the server does with a room's events besides fanning them out: it
//! persists them (through [`PersistSink`]) and deletes the bytes of
//! documents that were removed or whose session ended.

use std::sync::Arc;

use conclave_actors::room::RoomSink;
use conclave_actors::room_state::{Event, Millis};
use conclave_actors::{ConferenceId, SessionId};

use crate::documents::DocumentFiles;
use crate::persist::PersistSink;

pub struct ServerSink {
    pub persist: Arc<PersistSink>,
    pub files: Arc<DocumentFiles>,
}

impl ServerSink {
    pub fn new(persist: Arc<PersistSink>, files: Arc<DocumentFiles>) -> Self {
        Self { persist, files }
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
        if let Event::DocumentRemoved { document, .. } | Event::DocumentExpired { document } = event
        {
            self.files.delete_later(conference, *document);
        }
        self.persist.record(conference, session, event, at)
    }

    fn closed(&self, conference: ConferenceId, session: SessionId, at: Millis) {
        self.persist.closed(conference, session, at);
    }

    fn recording_ready(
        &self,
        conference: ConferenceId,
        session: SessionId,
        recording: &conclave_actors::media::RecordingDone,
        at: Millis,
    ) {
        self.persist
            .recording_ready(conference, session, recording, at);
    }

    fn backlogged(&self) -> bool {
        self.persist.backlogged()
    }
}

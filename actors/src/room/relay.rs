//! The `MediaRelay` actor: stands between a room's media plane and the
//! room. It passes every media event on to the room, but tells the sink of
//! a finished recording itself: the recording's writer finishes after the
//! media plane closed, and when a meeting ends while recording, the room
//! is gone by then. The relay lives as long as the media plane holds it.

use std::sync::Arc;

use actix::prelude::*;

use super::{Clock, Room, RoomSink};
use crate::ids::{ConferenceId, SessionId};
use crate::media::{FromMedia, MediaEvent, RecordingNews};

pub(super) struct MediaRelay {
    pub room: actix::WeakAddr<Room>,
    pub sink: Arc<dyn RoomSink>,
    pub clock: Clock,
    pub conference: ConferenceId,
    pub session: SessionId,
}

impl Actor for MediaRelay {
    type Context = Context<Self>;
}

impl Handler<FromMedia> for MediaRelay {
    type Result = ();

    fn handle(&mut self, FromMedia(event): FromMedia, _: &mut Self::Context) {
        match event {
            MediaEvent::Recorded(RecordingNews::File(file)) => {
                tracing::info!(conference = %self.conference, file = %file.file, bytes = file.bytes, "recording file written");
            }
            MediaEvent::Recorded(RecordingNews::Done(done)) => {
                self.sink
                    .recording_ready(self.conference, self.session, &done, (self.clock)());
            }
            other => {
                if let Some(room) = self.room.upgrade() {
                    room.do_send(FromMedia(other));
                }
            }
        }
    }
}

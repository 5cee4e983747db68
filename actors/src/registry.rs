//! The `Registry` actor: live conferences to their `Room`. It starts a room
//! on the first join (with the lock, permissions and blocks the caller
//! loaded from the store) and forgets it once it stopped for being empty.
//! Room addressing stays behind this actor so that rooms can later live on
//! other nodes without rooms changing.
//!
//! Talks to: rooms (starts them, hears `RoomEmpty`); the server asks it for
//! a room's address. It never awaits a room.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use crate::ids::ConferenceId;
use crate::media::{no_media, MediaFactory};
use crate::room::{Clock, Close, Room, RoomEmpty, RoomSink};
use crate::room_state::{Durable, RoomSettings};

/// The live room of a conference, started from `durable` if there is none.
#[derive(Message)]
#[rtype(result = "Addr<Room>")]
pub struct OpenRoom {
    pub conference: ConferenceId,
    pub durable: Durable,
}

/// The live room of a conference, if any (moderation from outside a room).
#[derive(Message)]
#[rtype(result = "Option<Addr<Room>>")]
pub struct FindRoom {
    pub conference: ConferenceId,
}

/// How many rooms the registry holds (each stopping room removes itself).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct LiveRooms;

/// Server shutdown: closes every room (each ends its seats' attendance and
/// its session) and answers once all have stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll;

pub struct Registry {
    rooms: HashMap<ConferenceId, Addr<Room>>,
    settings: RoomSettings,
    sink: Arc<dyn RoomSink>,
    clock: Clock,
    media: Arc<dyn MediaFactory>,
}

impl Registry {
    pub fn new(settings: RoomSettings, sink: Arc<dyn RoomSink>, clock: Clock) -> Self {
        Self {
            rooms: HashMap::new(),
            settings,
            sink,
            clock,
            media: no_media(),
        }
    }

    /// Rooms start their media planes from `media`.
    pub fn with_media(mut self, media: Arc<dyn MediaFactory>) -> Self {
        self.media = media;
        self
    }

    /// A room that stopped (it emptied) is as good as none.
    fn live(&self, conference: ConferenceId) -> Option<&Addr<Room>> {
        self.rooms.get(&conference).filter(|a| a.connected())
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
}

impl Handler<OpenRoom> for Registry {
    type Result = MessageResult<OpenRoom>;

    fn handle(&mut self, msg: OpenRoom, ctx: &mut Self::Context) -> Self::Result {
        if let Some(addr) = self.live(msg.conference) {
            return MessageResult(addr.clone());
        }
        let room = Room::new(
            msg.conference,
            self.settings.clone(),
            msg.durable,
            self.sink.clone(),
            self.clock.clone(),
            Some(ctx.address().recipient()),
        )
        .with_media(self.media.clone())
        .start();
        tracing::info!(conference = %msg.conference, "room started");
        self.rooms.insert(msg.conference, room.clone());
        MessageResult(room)
    }
}

impl Handler<FindRoom> for Registry {
    type Result = MessageResult<FindRoom>;

    fn handle(&mut self, msg: FindRoom, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.live(msg.conference).cloned())
    }
}

impl Handler<LiveRooms> for Registry {
    type Result = usize;

    fn handle(&mut self, _: LiveRooms, _: &mut Self::Context) -> usize {
        // What the registry holds, unpruned: a room that emptied must have
        // been forgotten through `RoomEmpty`.
        self.rooms.len()
    }
}

impl Handler<RoomEmpty> for Registry {
    type Result = ();

    fn handle(&mut self, msg: RoomEmpty, _: &mut Self::Context) {
        // Forget it if it is still the room we know: a newer room may have
        // taken its place already.
        if self.rooms.get(&msg.conference) == Some(&msg.room) {
            self.rooms.remove(&msg.conference);
        }
        tracing::info!(conference = %msg.conference, "room closed");
    }
}

impl Handler<CloseAll> for Registry {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: CloseAll, _: &mut Self::Context) -> Self::Result {
        let rooms: Vec<_> = self.rooms.drain().map(|(_, room)| room).collect();
        tracing::info!(rooms = rooms.len(), "closing every room");
        Box::pin(async move {
            // A room never awaits the registry, so waiting on rooms is safe.
            for room in rooms {
                let _ = room.send(Close).await;
            }
        })
    }
}

//! The live rooms as the server's connections see them: the registry, the
//! resume tickets, persistence, document storage and the endpoint
//! settings, plus opening a conference's room from its persisted state.
//! Shared by the WebSocket sessions, the phone gateway and the document
//! endpoints.

use std::time::Duration;

use actix::Addr;
use conclave_actors::registry::{FindRoom, OpenRoom, Registry};
use conclave_actors::room::Room;
use conclave_actors::room_state::{Audience, Block, Durable, Permissions, WaitingRoom};
use conclave_actors::{BlockId, ConferenceId, ParticipantId};

use crate::persist::PersistSink;
use crate::store::{RoomStateRow, Store};
use crate::ws::resume::ResumeTickets;

/// What every connection shares besides [`crate::services::Services`]: the rooms, the
/// resume tickets, persistence, and the endpoint's settings.
pub struct Rooms {
    pub registry: Addr<Registry>,
    /// The origins allowed to open a WebSocket (cross-site WebSocket hijacking).
    pub origins: Vec<String>,
    pub tickets: ResumeTickets,
    pub persistence: std::sync::Arc<PersistSink>,
    /// How long an acknowledgement of a lock, permission or block change
    /// waits for its commit before it answers `durable: false`.
    pub ack_wait: Duration,
    /// The longest anyone waits at a room's door (`[waiting_room]`).
    pub max_wait: Duration,
    /// The server's encryption key, which seals the names of blocks.
    pub names: crate::secrets::SecretKey,
    /// Where shared documents' bytes live.
    pub files: std::sync::Arc<crate::documents::DocumentFiles>,
    /// What the telephony gateway must present; `None` turns it off.
    pub gateway_secret: Option<crate::secrets::GatewaySecret>,
    /// The media plane, when media is on.
    pub media: Option<conclave_media::MediaPlane>,
    /// The coturn server participants get credentials for.
    pub turn: Option<crate::turn::TurnConfig>,
    /// Where the media plane writes recordings.
    pub recordings: std::path::PathBuf,
    /// Where an account export spools the JSON it streams: on the data
    /// disk, since the system's temporary folder may be held in memory.
    pub spool: std::path::PathBuf,
    /// Whether the device cookie is `Secure` (the public URL is `https`).
    pub secure_cookies: bool,
    /// Turns `true` when the server begins to stop: connections that hold
    /// no seat (no room will close them) close themselves.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Why a room could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The registry is gone: the server is stopping.
    ShuttingDown,
    /// The conference's lock, permissions and blocks cannot be read now; a
    /// room never opens without its blocks.
    Unavailable,
}

impl Rooms {
    /// The conference's live room, started from its persisted lock,
    /// permissions and blocks when there is none.
    pub async fn open(
        &self,
        store: &dyn Store,
        conference: ConferenceId,
    ) -> Result<Addr<Room>, OpenError> {
        match self.registry.send(FindRoom { conference }).await {
            Ok(Some(room)) => return Ok(room),
            Ok(None) => {}
            Err(_) => return Err(OpenError::ShuttingDown),
        }
        let durable = match store.room_state(conference).await {
            Ok(row) => durable_from(row, &self.names),
            Err(e) => {
                tracing::warn!(%conference, error = %e, "cannot read the room's durable state");
                return Err(OpenError::Unavailable);
            }
        };
        self.registry
            .send(OpenRoom {
                conference,
                durable,
            })
            .await
            .map_err(|_| OpenError::ShuttingDown)
    }
}

/// The room's starting state from what the store holds.
fn durable_from(row: RoomStateRow, names: &crate::secrets::SecretKey) -> Durable {
    let audience = |s: &str| match s {
        "moderators" => Audience::Moderators,
        _ => Audience::Everyone,
    };
    Durable {
        locked: row.locked,
        permissions: Permissions {
            chat: audience(&row.chat),
            share: audience(&row.share),
        },
        waiting_room: WaitingRoom::parse(&row.waiting_room).unwrap_or_default(),
        blocks: row
            .blocks
            .into_iter()
            .map(|b| Block {
                id: BlockId(b.id),
                identities: crate::persist::convert::parse_identities(&b.identities),
                name: crate::summary_keys::open_or_clear(names, b.name),
                by: ParticipantId(b.by),
                at: b.at,
            })
            .collect(),
    }
}

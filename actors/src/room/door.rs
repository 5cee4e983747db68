//! The room's side of its waiting room: the links of people who wait,
//! handed their seat when a moderator admits them, closed when one
//! denies them or the room closes.

use std::sync::Arc;

use super::{Link, Room};
use crate::ids::ParticipantId;
use crate::room_state::{Event, WaitOutcome};
use crate::view::{CloseReason, Outgoing, ToClient};

/// How a `Connect` ended: seated, or waiting for a moderator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entered {
    Seated,
    Waiting,
}

impl Room {
    /// Carries out the end of a wait; answers the link to attach once
    /// every event of the command went out (an admission: the newcomer
    /// learns the room from its snapshot, not from its own `Joined`).
    pub(super) fn wait_ended(&mut self, event: &Event) -> Option<(ParticipantId, Link)> {
        let Event::WaitingLeft { id, outcome } = event else {
            return None;
        };
        let link = self.waiters.remove(id)?;
        let tell = |link: &Link, m: ToClient| {
            let _ = link.queue.try_send(Arc::new(Outgoing::new(m)));
        };
        match outcome {
            WaitOutcome::Admitted { .. } => {
                tell(&link, ToClient::Admitted);
                return Some((*id, link));
            }
            WaitOutcome::Denied { .. } | WaitOutcome::Blocked | WaitOutcome::Expired => {
                let reason = match outcome {
                    WaitOutcome::Blocked => CloseReason::Blocked,
                    WaitOutcome::Expired => CloseReason::WaitExpired,
                    _ => CloseReason::Denied,
                };
                tell(&link, ToClient::Closed(reason));
                let _ = link.close.send(reason);
            }
            // They gave up: nobody to tell (a closing room tells the rest,
            // close_waiters).
            WaitOutcome::Gone => {}
        }
        None
    }

    /// Everyone still waiting is told the room closed (a restart after a
    /// panic forgets the waiting room too; they may try again).
    pub(super) fn close_waiters(&mut self) {
        for (_, link) in self.waiters.drain() {
            let _ = link.queue.try_send(Arc::new(Outgoing::new(ToClient::Closed(
                CloseReason::RoomClosed,
            ))));
            let _ = link.close.send(CloseReason::RoomClosed);
        }
    }
}

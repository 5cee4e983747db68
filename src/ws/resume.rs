//! Resume tickets: what a `resume_token` stands for. The token (256 random
//! bits) goes to the client once, in `joined`; the server keeps only its
//! hash, bound to the conference, the seat and the identities the seat was
//! admitted with. Whether the seat can still be taken back is the room's
//! decision (removed, blocked and dropped seats are gone).
//!
//! In memory: after a server restart rooms restart too, and seats with them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use conclave_actors::room_state::Identity;
use conclave_actors::{ConferenceId, ParticipantId};

use crate::crypto;

/// How long a ticket is remembered; far longer than any resume grace, it
/// only bounds memory.
const KEEP: Duration = Duration::from_secs(12 * 3600);
/// Above this many tickets, issuing one first sweeps out old ones.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Clone, Debug)]
pub struct Ticket {
    pub conference: ConferenceId,
    pub participant: ParticipantId,
    pub identities: Vec<Identity>,
    issued: Instant,
}

#[derive(Default)]
pub struct ResumeTickets {
    tickets: Mutex<HashMap<Vec<u8>, Ticket>>,
}

impl ResumeTickets {
    /// A new token for a seat.
    pub fn issue(
        &self,
        conference: ConferenceId,
        participant: ParticipantId,
        identities: Vec<Identity>,
    ) -> String {
        let token = crypto::new_token();
        let mut map = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, t| t.issued.elapsed() < KEEP);
        }
        map.insert(
            crypto::token_hash(&token),
            Ticket {
                conference,
                participant,
                identities,
                issued: Instant::now(),
            },
        );
        token
    }

    /// The ticket a token stands for.
    pub fn find(&self, token: &str) -> Option<Ticket> {
        let map = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&crypto::token_hash(token))
            .filter(|t| t.issued.elapsed() < KEEP)
            .cloned()
    }
}

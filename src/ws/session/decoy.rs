//! A deflected join (docs/codes.md): while a conference's codes are being
//! guessed, a wrong security code is answered as a right one is, with
//! `waiting`, and the connection then answers as a waiter's does until its
//! wait runs out. Nobody sees it and nobody can admit it: a guesser learns
//! nothing from the answer.

use actix_ws::{CloseCode, CloseReason};
use conclave_actors::room_state::RoomError;
use conclave_actors::{ConferenceId, ParticipantId};
use serde_json::json;

use super::super::encode;
use super::super::protocol::{ClientMessage, PcName, Request};
use super::{close, Gate};

impl Gate {
    /// Answers `waiting`, as for a newcomer held for a moderator.
    pub(super) async fn deflect(&mut self, request: &str, conference: ConferenceId, device: &str) {
        let title = match self.services.store.conference(conference).await {
            Ok(c) => c.title,
            Err(_) => "Conference".to_owned(),
        };
        self.send(&json!({
            "type": "waiting", "id": request, "participant": ParticipantId::new().to_string(),
            "conference": conference.0.to_string(), "title": title, "device_token": device,
        }))
        .await;
    }

    /// A request while seeming to wait, answered as a waiter's would be;
    /// `Some` closes.
    pub(crate) async fn decoy_request(&mut self, r: Request) -> Option<CloseReason> {
        let not_in_room = || {
            let e = RoomError::NotInRoom;
            encode::error(Some(&r.id), e.code(), &e.to_string())
        };
        let server_media = |pc: &PcName| self.rooms.media.is_none() && *pc != PcName::Peer;
        let answer = match &r.body {
            ClientMessage::Ping {} => json!({"type": "pong", "id": r.id}),
            ClientMessage::Join { .. } => encode::error(
                Some(&r.id),
                "already_joined",
                "this connection is already in a room",
            ),
            ClientMessage::Leave {} => {
                self.send(&encode::ack(&r.id)).await;
                return Some(close(CloseCode::Normal, "left"));
            }
            ClientMessage::MediaOffer { pc, .. }
            | ClientMessage::MediaAnswer { pc, .. }
            | ClientMessage::MediaCandidate { pc, .. }
                if server_media(pc) =>
            {
                encode::error(
                    Some(&r.id),
                    "media_disabled",
                    "this server carries no media",
                )
            }
            _ => not_in_room(),
        };
        self.send(&answer).await;
        None
    }
}

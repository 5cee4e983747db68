//! Taking a seat back with a resume token (docs/protocol.md `resume`).

use actix_ws::{CloseCode, CloseReason};
use conclave_actors::registry::FindRoom;
use conclave_actors::room::{Link, Reconnect};
use serde_json::json;

use super::super::encode;
use super::{close, Gate, Seated, QUEUE_CAPACITY};

impl Gate {
    /// Takes a seat back with a resume token. Codes are not checked again:
    /// whoever was admitted stays admitted (a reset code only refuses new
    /// joins), unless the room removed or blocked them meanwhile.
    pub(super) async fn resume(
        &mut self,
        request: &str,
        token: &str,
    ) -> Result<Option<Seated>, CloseReason> {
        let refuse = |code: &str| {
            encode::error(
                Some(request),
                code,
                "that seat cannot be taken back; join again",
            )
        };
        let Some(ticket) = self.rooms.tickets.find(token) else {
            self.send(&refuse("invalid_resume_token")).await;
            return Ok(None);
        };
        let room = match self
            .rooms
            .registry
            .send(FindRoom {
                conference: ticket.conference,
            })
            .await
        {
            Ok(Some(room)) => room,
            Ok(None) => {
                self.send(&refuse("not_in_room")).await;
                return Ok(None);
            }
            Err(_) => return Err(close(CloseCode::Away, "server_shutdown")),
        };
        let (link, queue, close_rx) = Link::new(QUEUE_CAPACITY);
        let id = ticket.participant;
        match room
            .send(Reconnect {
                id,
                identities: ticket.identities,
                link,
            })
            .await
        {
            Ok(Ok(role)) => {
                tracing::info!(conference = %ticket.conference, participant = %id, "resumed");
                self.send(&json!({
                    "type": "joined", "id": request, "participant": id.to_string(), "role": role.as_str(),
                    "conference": ticket.conference.0.to_string(), "resumed": true, "resume_token": token,
                    "ice_servers": self.ice_servers(id),
                }))
                .await;
                Ok(Some(Seated {
                    id,
                    room,
                    queue,
                    close: close_rx,
                    admitted: None,
                }))
            }
            Ok(Err(e)) => {
                self.send(&encode::error(Some(request), e.code(), &e.to_string()))
                    .await;
                Ok(None)
            }
            Err(_) => {
                self.send(&refuse("not_in_room")).await;
                Ok(None)
            }
        }
    }
}

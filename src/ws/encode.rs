//! What the server sends over the WebSocket: the room's per-recipient
//! messages (`ToClient`) and the answers to requests, as JSON text. Phone
//! numbers are already masked per recipient by the room's view; this file
//! only spells the wire names.

use conclave_actors::media::ServerSignal;
use conclave_actors::room_state::WaitOutcome;
use conclave_actors::room_state::{Audience, Block, ChatMessage, Document, Permission};
use conclave_actors::view::{MediaState, ParticipantView, Snapshot, ToClient, WaiterView};
use serde_json::{json, Value};

fn permission(p: Permission) -> &'static str {
    match p {
        Permission::Chat => "chat",
        Permission::Share => "share",
    }
}

fn audience(a: Audience) -> &'static str {
    a.as_str()
}

fn participant(p: &ParticipantView) -> Value {
    json!({
        "id": p.id.to_string(), "name": p.name, "role": p.role.as_str(),
        "phone": p.phone, "number": p.number, "muted": p.muted, "owner": p.owner,
    })
}

fn message(m: &ChatMessage) -> Value {
    json!({"id": m.id.to_string(), "from": m.from.to_string(), "from_name": m.from_name, "at": m.at, "text": m.text, "deleted": m.text.is_none()})
}

fn document(d: &Document) -> Value {
    json!({"id": d.id.to_string(), "name": d.name, "content_type": d.content_type, "size": d.size, "by": d.by.to_string(), "at": d.at})
}

pub fn block(b: &Block) -> Value {
    json!({"id": b.id.to_string(), "name": b.name, "by": b.by.to_string(), "at": b.at})
}

fn media(m: &MediaState) -> Value {
    json!({"mode": m.mode.as_str(), "peer": m.peer.map(|p| p.to_string()), "offerer": m.offerer})
}

fn signal(from: Option<conclave_actors::ParticipantId>, s: &ServerSignal) -> Value {
    let from = from.map(|p| p.to_string());
    match s {
        ServerSignal::Offer { pc, sdp } => {
            json!({"type": "media_offer", "pc": pc.as_str(), "from": from, "sdp": sdp})
        }
        ServerSignal::Answer { pc, sdp } => {
            json!({"type": "media_answer", "pc": pc.as_str(), "from": from, "sdp": sdp})
        }
        ServerSignal::Candidate { pc, candidate } => {
            // Kept as the client's object, as it came (or as webrtc spelled it).
            let candidate: Value =
                serde_json::from_str(candidate).unwrap_or(Value::String(candidate.clone()));
            json!({"type": "media_candidate", "pc": pc.as_str(), "from": from, "candidate": candidate})
        }
    }
}

fn waiter(w: &WaiterView) -> Value {
    json!({"id": w.id.to_string(), "name": w.name, "phone": w.number.is_some(), "number": w.number, "since": w.since, "reason": w.reason.as_str()})
}

fn snapshot(s: &Snapshot) -> Value {
    json!({
        "type": "room",
        "you": s.you.to_string(),
        "role": s.role.as_str(),
        "locked": s.locked,
        "permissions": {"chat": audience(s.chat), "share": audience(s.share)},
        "recording": s.recording,
        "participants": s.participants.iter().map(participant).collect::<Vec<_>>(),
        "chat": s.messages.iter().map(message).collect::<Vec<_>>(),
        "documents": s.documents.iter().map(document).collect::<Vec<_>>(),
        "media": media(&s.media),
        "active_speaker": s.active_speaker.map(|p| p.to_string()),
        "waiting_room": s.waiting_room.as_str(),
        "waiting": s.waiting.iter().map(waiter).collect::<Vec<_>>(),
    })
}

/// One room message as a JSON object.
pub fn to_client(m: &ToClient) -> Value {
    match m {
        ToClient::Snapshot(s) => snapshot(s),
        ToClient::Joined(p) => json!({"type": "participant_joined", "participant": participant(p)}),
        ToClient::Left { id, reason } => {
            json!({"type": "participant_left", "participant": id.to_string(), "reason": reason.as_str()})
        }
        ToClient::Locked { by } => json!({"type": "locked", "by": by.to_string()}),
        ToClient::Unlocked { by } => json!({"type": "unlocked", "by": by.to_string()}),
        ToClient::Blocked(b) => json!({"type": "blocked", "block": block(b)}),
        ToClient::Unblocked { block: b, by } => {
            json!({"type": "unblocked", "block": block(b), "by": by.to_string()})
        }
        ToClient::PermissionChanged {
            permission: p,
            audience: a,
            by,
        } => {
            json!({"type": "permission_changed", "permission": permission(*p), "audience": audience(*a), "by": by.to_string()})
        }
        ToClient::Muted { target, muted, by } => {
            json!({"type": "muted", "participant": target.to_string(), "muted": muted, "by": by.to_string()})
        }
        ToClient::RoleChanged { target, role, by } => {
            json!({"type": "role_changed", "participant": target.to_string(), "role": role.as_str(), "by": by.to_string()})
        }
        ToClient::CallerNamed { target, name, by } => {
            json!({"type": "caller_named", "participant": target.to_string(), "name": name, "by": by.to_string()})
        }
        ToClient::ChatPosted(m) => json!({"type": "chat", "message": message(m)}),
        ToClient::ChatDeleted { message, by } => {
            json!({"type": "chat_deleted", "message": message.to_string(), "by": by.to_string()})
        }
        ToClient::DocumentAdded(d) => json!({"type": "document_added", "document": document(d)}),
        ToClient::DocumentRemoved { document, by } => {
            json!({"type": "document_removed", "document": document.to_string(), "by": by.to_string()})
        }
        ToClient::RecordingChanged { on, by } => {
            json!({"type": "recording", "on": on, "by": by.to_string()})
        }
        ToClient::JoinRefused {
            name,
            phone,
            reason,
        } => {
            json!({"type": "join_refused", "name": name, "phone": phone, "reason": reason.code()})
        }
        ToClient::Media(m) => {
            let mut v = media(m);
            v["type"] = json!("media_mode");
            v
        }
        ToClient::Signal { from, signal: s } => signal(*from, s),
        ToClient::ActiveSpeaker(who) => {
            json!({"type": "active_speaker", "participant": who.map(|p| p.to_string())})
        }
        ToClient::MediaReset => json!({"type": "media_reset"}),
        ToClient::Reception(all) => json!({
            "type": "connection_quality",
            "participants": all.iter().map(|r| json!({
                "participant": r.participant.to_string(),
                "quality": r.level.as_str(),
                "receive_loss_percent": r.receive_loss_permille.map(|p| f64::from(p) / 10.0),
                "send_loss_percent": r.send_loss_permille.map(|p| f64::from(p) / 10.0),
                "rtt_ms": r.rtt_ms,
                "estimate_kbps": r.estimate_bps.map(|b| b / 1000),
            })).collect::<Vec<_>>(),
        }),
        ToClient::Waiting(w) => json!({"type": "waiting_joined", "waiter": waiter(w)}),
        ToClient::WaitingLeft { id, outcome } => {
            let (outcome, by) = match outcome {
                WaitOutcome::Admitted { by } => ("admitted", Some(by.to_string())),
                WaitOutcome::Denied { by } => ("denied", Some(by.to_string())),
                WaitOutcome::Blocked => ("blocked", None),
                WaitOutcome::Expired => ("expired", None),
                WaitOutcome::Gone => ("gone", None),
            };
            json!({"type": "waiting_left", "participant": id.to_string(), "outcome": outcome, "by": by})
        }
        ToClient::WaitingRoomChanged { setting, by } => {
            json!({"type": "waiting_room", "setting": setting.as_str(), "by": by.to_string()})
        }
        // Never encoded: the connection answers it with its `joined`.
        ToClient::Admitted => json!({"type": "admitted"}),
        ToClient::Closed(reason) => json!({"type": "closed", "reason": reason.as_str()}),
    }
}

/// `{"type":"error","id":..,"code":..,"message":..}`.
pub fn error(id: Option<&str>, code: &str, message: &str) -> Value {
    json!({"type": "error", "id": id, "code": code, "message": message})
}

/// `{"type":"ack","id":..}`.
pub fn ack(id: &str) -> Value {
    json!({"type": "ack", "id": id})
}

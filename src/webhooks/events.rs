//! Room events to webhook events. Pure: the tests below drive it. A phone
//! number leaves only masked, as web participants see it. The records are
//! written with the history they describe, so an event is told if and
//! only if its history was kept.

use conclave_actors::room_state::{Endpoint, Event, Millis};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::persist::convert::Place;
use crate::store::Record;

/// The outbox record of one event of `kind` about `conference`.
pub fn record(conference: Uuid, kind: &'static str, at: Millis, data: Value) -> Record {
    let id = Uuid::new_v4();
    let timestamp = chrono::DateTime::from_timestamp_millis(at)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = json!({
        "id": id,
        "type": kind,
        "timestamp": timestamp,
        "data": data,
    });
    Record::Webhook {
        id,
        conference,
        kind,
        body: body.to_string(),
        at,
    }
}

fn endpoint(e: &Endpoint) -> (&'static str, Option<&str>) {
    match e {
        Endpoint::Web => ("web", None),
        Endpoint::Phone { masked, .. } => ("phone", Some(masked.as_str())),
    }
}

/// The webhook events of `event`, given the history records it wrote
/// (every audit record is a moderator action, so that list is kept once).
pub fn for_event(place: Place, event: &Event, at: Millis, history: &[Record]) -> Vec<Record> {
    let (conference, session) = (place.conference.0, place.session.0);
    let mut out = Vec::new();
    match event {
        Event::Joined(seat) => {
            let (endpoint, phone) = endpoint(&seat.endpoint);
            out.push(record(
                conference,
                "participant.joined",
                at,
                json!({
                    "conference": conference, "session": session, "participant": seat.id.0,
                    "name": seat.name, "endpoint": endpoint, "phone": phone, "role": seat.role.as_str(),
                }),
            ));
        }
        Event::Left { id, reason } => out.push(record(
            conference,
            "participant.left",
            at,
            json!({
                "conference": conference, "session": session, "participant": id.0,
                "reason": reason.as_str(),
            }),
        )),
        Event::Waiting(waiter) => {
            let (endpoint, phone) = endpoint(&waiter.newcomer.endpoint);
            out.push(record(
                conference,
                "waiting_room.entered",
                at,
                json!({
                    "conference": conference, "session": session, "participant": waiter.id().0,
                    "name": waiter.newcomer.name, "endpoint": endpoint, "phone": phone,
                    "reason": waiter.reason.as_str(),
                }),
            ));
        }
        _ => {}
    }
    for r in history {
        if let Record::Audit {
            actor,
            action,
            target,
            detail,
            at,
            ..
        } = r
        {
            out.push(record(
                conference,
                "moderator.action",
                *at,
                json!({
                    "conference": conference, "session": session, "actor": actor,
                    "action": action, "target": target, "detail": detail,
                }),
            ));
        }
    }
    out
}

/// `conference.started` or `conference.ended`.
pub fn session(place: Place, started: bool, at: Millis) -> Record {
    let kind = if started {
        "conference.started"
    } else {
        "conference.ended"
    };
    record(
        place.conference.0,
        kind,
        at,
        json!({"conference": place.conference.0, "session": place.session.0}),
    )
}

/// What a server that stopped without closing its rooms leaves to tell
/// (its sessions are closed by another, or by itself on start): each seat
/// left with `server_stopped`, then the meeting ended.
pub fn abandoned(conference: Uuid, session: Uuid, seats: &[Uuid], at: Millis) -> Vec<Record> {
    let mut out: Vec<Record> = seats
        .iter()
        .map(|p| {
            record(
                conference,
                "participant.left",
                at,
                json!({
                    "conference": conference, "session": session, "participant": p,
                    "reason": "server_stopped",
                }),
            )
        })
        .collect();
    out.push(record(
        conference,
        "conference.ended",
        at,
        json!({"conference": conference, "session": session}),
    ));
    out
}

/// `recording.ready`: the recording can be listed and downloaded.
pub fn recording(place: Place, done: &conclave_actors::media::RecordingDone, at: Millis) -> Record {
    record(
        place.conference.0,
        "recording.ready",
        at,
        json!({
            "conference": place.conference.0, "session": place.session.0,
            "recording": done.recording, "files": done.files, "bytes": done.bytes,
        }),
    )
}

/// `summary.deleted`: an owner deleted the conference's history up to
/// `before` (its sessions, recordings and documents).
pub fn summary_deleted(conference: Uuid, before: Millis, at: Millis) -> Record {
    let before = chrono::DateTime::from_timestamp_millis(before)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    record(
        conference,
        "summary.deleted",
        at,
        json!({"conference": conference, "before": before}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_actors::room_state::{LeaveReason, Seat};
    use conclave_actors::{ConferenceId, ParticipantId, Role, SessionId};

    fn place() -> Place {
        Place {
            conference: ConferenceId(Uuid::new_v4()),
            session: SessionId(Uuid::new_v4()),
        }
    }

    fn body(r: &Record) -> Value {
        let Record::Webhook { body, .. } = r else {
            panic!("not a webhook record: {r:?}")
        };
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn a_caller_joins_with_the_number_masked() {
        let seat = Seat {
            id: ParticipantId(Uuid::new_v4()),
            name: "Caller".into(),
            role: Role::Participant,
            owner: false,
            endpoint: Endpoint::Phone {
                number: "+441234567123".into(),
                masked: "+44•••••••123".into(),
            },
            identities: vec![],
            muted: false,
            joined_at: 5,
            disconnected_at: None,
        };
        let out = for_event(place(), &Event::Joined(seat), 1_700_000_000_000, &[]);
        assert_eq!(out.len(), 1);
        let b = body(&out[0]);
        assert_eq!(b["type"], "participant.joined");
        assert_eq!(b["data"]["phone"], "+44•••••••123");
        assert_eq!(b["timestamp"], "2023-11-14T22:13:20.000Z");
        assert!(!out[0].clone().kind().is_empty());
        assert!(!b.to_string().contains("1234567"), "no full number: {b}");
    }

    #[test]
    fn every_audit_record_is_a_moderator_action() {
        let by = Uuid::new_v4();
        let audit = Record::Audit {
            id: Uuid::new_v4(),
            conference: Uuid::new_v4(),
            session: Uuid::new_v4(),
            actor: by,
            action: "lock",
            target: None,
            detail: None,
            at: 7,
        };
        let left = Event::Left {
            id: ParticipantId(Uuid::new_v4()),
            reason: LeaveReason::Removed,
        };
        let out = for_event(place(), &left, 9, &[audit]);
        let kinds: Vec<_> = out.iter().map(|r| body(r)["type"].clone()).collect();
        assert_eq!(kinds, ["participant.left", "moderator.action"]);
        assert_eq!(body(&out[0])["data"]["reason"], "removed");
        assert_eq!(body(&out[1])["data"]["actor"], by.to_string());
        assert_eq!(body(&out[1])["data"]["action"], "lock");
    }

    #[test]
    fn ids_are_fresh_and_match_the_body() {
        let p = place();
        let (a, b) = (session(p, true, 1), session(p, false, 2));
        let (
            Record::Webhook {
                id: ia, kind: ka, ..
            },
            Record::Webhook {
                id: ib, kind: kb, ..
            },
        ) = (&a, &b)
        else {
            panic!()
        };
        assert_ne!(ia, ib);
        assert_eq!((*ka, *kb), ("conference.started", "conference.ended"));
        assert_eq!(body(&a)["id"], ia.to_string());
    }
}

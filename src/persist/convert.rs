//! Room events to the rows they change. Pure: the tests below drive it
//! directly. Names, numbers, chat and document names are sealed before
//! they leave this function (docs/encryption.md), so no record in the
//! persister's buffer holds one in the clear.

use conclave_actors::room_state::{Endpoint, Event, Identity, Millis, Permission, WaitOutcome};
use conclave_actors::{ConferenceId, SessionId};
use serde_json::json;
use uuid::Uuid;

use crate::secrets::SecretKey;
use crate::store::Record;
use crate::summary_keys::seal_text;

/// How an event's records seal what they hold.
pub struct Seal<'a> {
    /// The server's key: the address book's numbers and names, and the
    /// names of blocks, which outlive the summary.
    pub server: &'a SecretKey,
    /// The summary's key: its seats' names and numbers, its chat and its
    /// documents' names. `None` writes them as the summaries before
    /// encryption at rest were (names in clear, numbers by the server's key).
    pub summary: Option<&'a SecretKey>,
}

impl Seal<'_> {
    fn number(&self, number: &str) -> Vec<u8> {
        crate::crypto::seal(self.summary.unwrap_or(self.server), number.as_bytes())
    }

    fn text(&self, text: &str) -> String {
        match self.summary {
            Some(key) => crate::summary_keys::seal_text(key, text),
            None => text.to_owned(),
        }
    }
}

/// Where an event happened.
#[derive(Clone, Copy, Debug)]
pub struct Place {
    pub conference: ConferenceId,
    pub session: SessionId,
}

/// The records `event` writes.
pub fn records(place: Place, event: &Event, at: Millis, seal: &Seal) -> Vec<Record> {
    let conference = place.conference.0;
    let session = place.session.0;
    let audit =
        |actor: Uuid, action: &'static str, target: Option<String>, detail: Option<String>| {
            Record::Audit {
                id: Uuid::new_v4(),
                conference,
                session,
                actor,
                action,
                target,
                detail,
                at,
            }
        };
    match event {
        Event::Joined(seat) => {
            let (endpoint, phone_sealed) = match &seat.endpoint {
                Endpoint::Web => ("web", None),
                Endpoint::Phone { number, .. } => ("phone", Some(seal.number(number))),
            };
            vec![Record::Joined {
                participant: seat.id.0,
                session,
                name: seal.text(&seat.name),
                endpoint,
                phone_sealed,
                role: seat.role.as_str(),
                at,
            }]
        }
        // A resumed seat is the same seat: its attendance interval goes on.
        Event::Resumed { .. } => vec![],
        Event::Left { id, reason } => vec![Record::Left {
            participant: id.0,
            reason: reason.as_str(),
            at,
        }],
        Event::Removed { target, by, block } => vec![audit(
            by.0,
            if *block { "remove_and_block" } else { "remove" },
            Some(target.to_string()),
            None,
        )],
        Event::Locked { by } => vec![
            Record::Locked {
                conference,
                locked: true,
                at,
            },
            audit(by.0, "lock", None, None),
        ],
        Event::Unlocked { by } => vec![
            Record::Locked {
                conference,
                locked: false,
                at,
            },
            audit(by.0, "unlock", None, None),
        ],
        Event::Blocked(block) => vec![Record::BlockAdded {
            id: block.id.0,
            conference,
            name: seal_text(seal.server, &block.name),
            identities: identities_json(&block.identities),
            by: block.by.0,
            at: block.at,
        }],
        Event::Unblocked { block, by } => vec![
            Record::BlockLifted { id: block.id.0, at },
            audit(by.0, "unblock", Some(block.id.to_string()), None),
        ],
        Event::PermissionChanged {
            permission,
            audience,
            by,
        } => {
            let permission = match permission {
                Permission::Chat => "chat",
                Permission::Share => "share",
            };
            vec![
                Record::Permission {
                    conference,
                    permission,
                    audience: audience.as_str(),
                    at,
                },
                audit(
                    by.0,
                    "set_permission",
                    None,
                    Some(format!("{permission}={}", audience.as_str())),
                ),
            ]
        }
        Event::Muted { target, muted, by } => vec![audit(
            by.0,
            if *muted { "mute" } else { "unmute" },
            Some(target.to_string()),
            None,
        )],
        Event::RoleChanged { target, role, by } => vec![
            Record::RoleChanged {
                participant: target.0,
                role: role.as_str(),
            },
            audit(
                by.0,
                if *role == conclave_actors::Role::Moderator {
                    "promote"
                } else {
                    "demote"
                },
                Some(target.to_string()),
                None,
            ),
        ],
        Event::CallerNamed {
            target,
            name,
            by,
            number,
            index,
        } => {
            let mut records = vec![
                Record::Renamed {
                    participant: target.0,
                    name: seal.text(name),
                },
                audit(by.0, "name_caller", Some(target.to_string()), None),
            ];
            if let Some(index) = index {
                records.push(Record::ContactSaved {
                    conference,
                    number_index: index.clone(),
                    number_sealed: crate::crypto::seal(seal.server, number.as_bytes()),
                    name: seal_text(seal.server, name),
                    at,
                });
            }
            records
        }
        Event::ChatPosted(m) => vec![Record::ChatPosted {
            id: m.id.0,
            conference,
            session,
            sender: m.from.0,
            sender_name: seal.text(&m.from_name),
            text: seal.text(m.text.as_deref().unwrap_or_default()),
            at: m.at,
        }],
        Event::ChatDeleted { message, by } => vec![
            Record::ChatDeleted { id: message.0, at },
            audit(by.0, "delete_chat", Some(message.to_string()), None),
        ],
        Event::DocumentAdded(d) => vec![Record::DocumentAdded {
            id: d.id.0,
            conference,
            session,
            name: seal.text(&d.name),
            content_type: d.content_type.clone(),
            size: i64::try_from(d.size).unwrap_or(i64::MAX),
            by: d.by.0,
            at: d.at,
        }],
        Event::DocumentExpired { document } => vec![Record::DocumentRemoved {
            id: document.0,
            at,
            erase_name: false,
        }],
        Event::DocumentRemoved { document, by } => vec![
            Record::DocumentRemoved {
                id: document.0,
                at,
                erase_name: true,
            },
            audit(by.0, "remove_document", Some(document.to_string()), None),
        ],
        Event::RecordingChanged { on, by } => vec![audit(
            by.0,
            if *on {
                "start_recording"
            } else {
                "stop_recording"
            },
            None,
            None,
        )],
        // Nobody was seated: no attendance, and the audit log is for what
        // moderators did.
        Event::JoinRefused { .. } | Event::Waiting(_) => vec![],
        Event::WaitingLeft { id, outcome } => match outcome {
            WaitOutcome::Admitted { by } => vec![audit(by.0, "admit", Some(id.to_string()), None)],
            WaitOutcome::Denied { by } => vec![audit(by.0, "deny", Some(id.to_string()), None)],
            WaitOutcome::Blocked | WaitOutcome::Expired | WaitOutcome::Gone => vec![],
        },
        Event::WaitingRoomChanged { setting, by } => vec![
            Record::WaitingRoom {
                conference,
                setting: setting.as_str(),
                at,
            },
            audit(
                by.0,
                "set_waiting_room",
                None,
                Some(setting.as_str().to_owned()),
            ),
        ],
    }
}

/// A block's identities as stored: `[{"kind": ..., "value": ...}]`.
pub fn identities_json(identities: &[Identity]) -> String {
    let list: Vec<_> = identities
        .iter()
        .map(|i| match i {
            Identity::Account(a) => json!({"kind": "account", "value": a.to_string()}),
            Identity::Device(d) => json!({"kind": "device", "value": d}),
            Identity::Phone(p) => json!({"kind": "phone", "value": p}),
            Identity::External(x) => json!({"kind": "external", "value": x}),
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// Reads what [`identities_json`] wrote; an entry it cannot read is skipped
/// (and logged), never turned into a broader block.
pub fn parse_identities(text: &str) -> Vec<Identity> {
    let Ok(serde_json::Value::Array(list)) = serde_json::from_str(text) else {
        tracing::error!("a stored block has unreadable identities");
        return vec![];
    };
    list.iter()
        .filter_map(|v| {
            let value = v["value"].as_str()?;
            match v["kind"].as_str()? {
                "account" => value.parse().ok().map(Identity::Account),
                "device" => Some(Identity::Device(value.to_owned())),
                "phone" => Some(Identity::Phone(value.to_owned())),
                "external" => Some(Identity::External(value.to_owned())),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_actors::room_state::{Block, LeaveReason, Seat};
    use conclave_actors::{AccountId, BlockId, ParticipantId, Role};

    fn place() -> Place {
        Place {
            conference: ConferenceId::new(),
            session: SessionId::new(),
        }
    }

    fn server() -> SecretKey {
        SecretKey::from_bytes([7; 32])
    }

    fn clear() -> Seal<'static> {
        static KEY: std::sync::OnceLock<SecretKey> = std::sync::OnceLock::new();
        Seal {
            server: KEY.get_or_init(server),
            summary: None,
        }
    }

    #[test]
    fn a_phone_join_is_sealed_and_a_resume_writes_nothing() {
        let p = place();
        let seat = Seat {
            id: ParticipantId::new(),
            name: "Caller".into(),
            role: Role::Participant,
            owner: false,
            endpoint: Endpoint::Phone {
                number: "+441234567890".into(),
                masked: "+44 ••• ••890".into(),
            },
            identities: vec![],
            muted: false,
            joined_at: 5,
            disconnected_at: None,
        };
        let out = records(p, &Event::Joined(seat.clone()), 5, &clear());
        let text = format!("{out:?}");
        assert!(!text.contains("+441234567890"), "{text}");
        assert!(
            matches!(&out[..], [Record::Joined { endpoint: "phone", phone_sealed: Some(s), .. }] if crate::crypto::open(&server(), s).as_deref() == Some(&b"+441234567890"[..]))
        );
        // With the summary's key, the name and the number are its alone.
        let summary = SecretKey::generate();
        let sealed = Seal {
            server: &server(),
            summary: Some(&summary),
        };
        let out = records(p, &Event::Joined(seat.clone()), 5, &sealed);
        let [Record::Joined {
            name,
            phone_sealed: Some(number),
            ..
        }] = &out[..]
        else {
            panic!("{out:?}")
        };
        assert!(!format!("{out:?}").contains("Caller"));
        assert_eq!(
            crate::summary_keys::open_text(&summary, name).as_deref(),
            Some("Caller")
        );
        assert!(crate::crypto::open(&server(), number).is_none());
        assert!(crate::crypto::open(&summary, number).is_some());
        assert!(records(p, &Event::Resumed { id: seat.id }, 6, &clear()).is_empty());
        let left = records(
            p,
            &Event::Left {
                id: seat.id,
                reason: LeaveReason::Dropped,
            },
            7,
            &clear(),
        );
        assert_eq!(
            left,
            vec![Record::Left {
                participant: seat.id.0,
                reason: "dropped",
                at: 7
            }]
        );
    }

    #[test]
    fn moderator_actions_are_audited_with_actor_and_target() {
        let p = place();
        let (by, target) = (ParticipantId::new(), ParticipantId::new());
        let out = records(
            p,
            &Event::Removed {
                target,
                by,
                block: true,
            },
            9,
            &clear(),
        );
        assert!(
            matches!(&out[..], [Record::Audit { actor, action: "remove_and_block", target: Some(t), at: 9, .. }] if *actor == by.0 && *t == target.to_string())
        );
        let lock = records(p, &Event::Locked { by }, 10, &clear());
        assert!(matches!(
            &lock[..],
            [
                Record::Locked { locked: true, .. },
                Record::Audit { action: "lock", .. }
            ]
        ));
    }

    #[test]
    fn block_identities_round_trip() {
        let ids = vec![
            Identity::Account(AccountId::new()),
            Identity::Device("abc".into()),
            Identity::Phone("f00d".into()),
            Identity::External("beef".into()),
        ];
        let block = Block {
            id: BlockId::new(),
            identities: ids.clone(),
            name: "x".into(),
            by: ParticipantId::new(),
            at: 1,
        };
        let out = records(place(), &Event::Blocked(block), 1, &clear());
        let Record::BlockAdded { identities, .. } = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(parse_identities(identities), ids);
        assert!(parse_identities("not json").is_empty());
        assert_eq!(
            parse_identities(r#"[{"kind":"mystery","value":"x"},{"kind":"device","value":"d"}]"#),
            vec![Identity::Device("d".into())]
        );
    }
}

//! Table tests of the room's rules, driving `RoomState::apply` directly.

use super::*;
use crate::ids::{AccountId, DocumentId, MessageId};

const T0: Millis = 1_900_000_000_000;

/// A room with an owner, a second moderator, two web participants, a phone
/// participant, a removed participant, one block, one chat message and one
/// document (the last two by the participant `other`).
struct Fixture {
    room: RoomState,
    owner: ParticipantId,
    moderator: ParticipantId,
    participant: ParticipantId,
    other: ParticipantId,
    phone: ParticipantId,
    removed: ParticipantId,
    block: BlockId,
    message: MessageId,
    document: DocumentId,
}

fn web(name: &str, role: Role, owner: bool) -> Newcomer {
    Newcomer {
        id: ParticipantId::new(),
        name: name.into(),
        role,
        owner,
        endpoint: Endpoint::Web,
        identities: vec![
            Identity::Account(AccountId::new()),
            Identity::Device(format!("dev-{name}")),
        ],
        hold: false,
        origin: None,
    }
}

fn caller(number_hash: &str, role: Role) -> Newcomer {
    Newcomer {
        id: ParticipantId::new(),
        name: "Caller".into(),
        role,
        owner: false,
        endpoint: Endpoint::Phone {
            number: "+441234567123".into(),
            masked: "+44 •••• ••123".into(),
        },
        identities: vec![Identity::Phone(number_hash.into())],
        hold: false,
        origin: None,
    }
}

fn join(room: &mut RoomState, n: Newcomer) -> ParticipantId {
    let id = n.id;
    let out = room.apply(Command::Join(n), T0);
    assert_eq!(out.reply, Ok(Reply::Ok), "{out:?}");
    id
}

/// Seats a newcomer the fixture's block makes wait: the owner admits them.
fn join_past_the_door(f: &mut Fixture, n: Newcomer) -> ParticipantId {
    let id = n.id;
    let out = f.room.apply(Command::Join(n), T0);
    if out.reply == Ok(Reply::Waiting) {
        let admitted = f.room.apply(
            Command::Admit {
                by: f.owner,
                target: id,
            },
            T0,
        );
        assert_eq!(admitted.reply, Ok(Reply::Ok), "{admitted:?}");
    } else {
        assert_eq!(out.reply, Ok(Reply::Ok), "{out:?}");
    }
    id
}

fn block_id(out: &Outcome) -> BlockId {
    out.events
        .iter()
        .find_map(|e| match e {
            Event::Blocked(b) => Some(b.id),
            _ => None,
        })
        .expect("a Blocked event")
}

fn fixture() -> Fixture {
    let mut room = RoomState::new(RoomSettings::default());
    let owner = join(&mut room, web("owner", Role::Moderator, true));
    let moderator = join(&mut room, web("mod", Role::Moderator, false));
    let participant = join(&mut room, web("p", Role::Participant, false));
    let other = join(&mut room, web("other", Role::Participant, false));
    let phone = join(&mut room, caller("hash-1", Role::Participant));
    let removed = join(&mut room, web("removed", Role::Participant, false));
    let troll = join(&mut room, web("troll", Role::Participant, false));
    assert!(room
        .apply(
            Command::Remove {
                by: owner,
                target: removed,
                block: false
            },
            T0
        )
        .reply
        .is_ok());
    let block = block_id(&room.apply(
        Command::Remove {
            by: owner,
            target: troll,
            block: true,
        },
        T0,
    ));
    let message = MessageId::new();
    assert!(room
        .apply(
            Command::Chat {
                by: other,
                id: message,
                text: "hello".into()
            },
            T0
        )
        .reply
        .is_ok());
    let document = DocumentId::new();
    let doc = Document {
        id: document,
        name: "a.pdf".into(),
        content_type: "application/pdf".into(),
        size: 3,
        by: other,
        at: T0,
    };
    assert!(room
        .apply(
            Command::AddDocument {
                by: other,
                document: doc
            },
            T0
        )
        .reply
        .is_ok());
    Fixture {
        room,
        owner,
        moderator,
        participant,
        other,
        phone,
        removed,
        block,
        message,
        document,
    }
}

/// Every moderator action, built for a sender against the fixture.
type Action = (&'static str, fn(&Fixture, ParticipantId) -> Command);

const MODERATOR_ACTIONS: &[Action] = &[
    ("lock", |_, by| Command::Lock { by }),
    ("unlock", |_, by| Command::Unlock { by }),
    ("remove", |f, by| Command::Remove {
        by,
        target: f.other,
        block: false,
    }),
    ("remove_and_block", |f, by| Command::Remove {
        by,
        target: f.other,
        block: true,
    }),
    ("list_blocks", |_, by| Command::ListBlocks { by }),
    ("unblock", |f, by| Command::Unblock { by, block: f.block }),
    ("set_chat_permission", |_, by| Command::SetPermission {
        by,
        permission: Permission::Chat,
        audience: Audience::Moderators,
    }),
    ("set_share_permission", |_, by| Command::SetPermission {
        by,
        permission: Permission::Share,
        audience: Audience::Moderators,
    }),
    ("mute", |f, by| Command::Mute {
        by,
        target: f.other,
        muted: true,
    }),
    ("promote", |f, by| Command::Promote {
        by,
        target: f.other,
    }),
    ("demote", |f, by| Command::Demote {
        by,
        target: f.moderator,
    }),
    ("name_caller", |f, by| Command::NameCaller {
        by,
        target: f.phone,
        name: "Grace".into(),
    }),
    ("remove_others_document", |f, by| Command::RemoveDocument {
        by,
        document: f.document,
    }),
    ("delete_others_chat", |f, by| Command::DeleteChat {
        by,
        message: f.message,
    }),
    ("start_recording", |_, by| Command::StartRecording { by }),
    ("stop_recording", |_, by| Command::StopRecording { by }),
];

/// Who sends, as a role in the fixture.
type Sender = (
    &'static str,
    fn(&Fixture) -> ParticipantId,
    Result<(), RoomError>,
);

const SENDERS: [Sender; 5] = [
    ("participant", |f| f.participant, Err(RoomError::Forbidden)),
    ("phone participant", |f| f.phone, Err(RoomError::Forbidden)),
    (
        "removed participant",
        |f| f.removed,
        Err(RoomError::NotInRoom),
    ),
    ("moderator", |f| f.moderator, Ok(())),
    ("owner", |f| f.owner, Ok(())),
];

#[test]
fn authorization_matrix_every_moderator_action_by_every_sender() {
    let mut refused = 0;
    let mut allowed = 0;
    for (action, build) in MODERATOR_ACTIONS {
        for (who, sender, expected) in &SENDERS {
            let mut f = fixture();
            let by = sender(&f);
            let before = f.room.clone();
            let out = f.room.apply(build(&f, by), T0 + 1);
            match expected {
                Ok(()) => {
                    assert!(out.reply.is_ok(), "{who} {action}: {out:?}");
                    allowed += 1;
                }
                Err(e) => {
                    assert_eq!(out.reply, Err(*e), "{who} {action}");
                    assert!(
                        out.events.is_empty(),
                        "{who} {action} emitted {:?}",
                        out.events
                    );
                    assert_eq!(f.room, before, "{who} {action} changed the room");
                    refused += 1;
                }
            }
        }
    }
    assert_eq!(
        refused,
        MODERATOR_ACTIONS.len() * 3,
        "every forbidden attempt was refused"
    );
    assert_eq!(allowed, MODERATOR_ACTIONS.len() * 2);
}

#[test]
fn allowed_moderator_actions_change_the_room_and_say_so() {
    type Check = fn(&Fixture, &Event) -> bool;
    #[rustfmt::skip]
    let expected: [(&str, Check); 14] = [
        ("lock", |_, e| matches!(e, Event::Locked { .. })),
        ("remove", |f, e| *e == Event::Left { id: f.other, reason: LeaveReason::Removed }),
        ("remove_and_block", |f, e| *e == Event::Left { id: f.other, reason: LeaveReason::Blocked }),
        ("unblock", |f, e| matches!(e, Event::Unblocked { block, .. } if block.id == f.block)),
        ("set_chat_permission", |_, e| matches!(e, Event::PermissionChanged { permission: Permission::Chat, audience: Audience::Moderators, .. })),
        ("set_share_permission", |_, e| matches!(e, Event::PermissionChanged { permission: Permission::Share, audience: Audience::Moderators, .. })),
        ("mute", |f, e| *e == Event::Muted { target: f.other, muted: true, by: f.owner }),
        ("promote", |f, e| *e == Event::RoleChanged { target: f.other, role: Role::Moderator, by: f.owner }),
        ("demote", |f, e| *e == Event::RoleChanged { target: f.moderator, role: Role::Participant, by: f.owner }),
        ("name_caller", |f, e| matches!(e, Event::CallerNamed { target, name, by, number, .. } if *target == f.phone && name == "Grace" && *by == f.owner && !number.is_empty())),
        ("remove_others_document", |f, e| *e == Event::DocumentRemoved { document: f.document, by: f.owner }),
        ("delete_others_chat", |f, e| *e == Event::ChatDeleted { message: f.message, by: f.owner }),
        ("start_recording", |_, e| matches!(e, Event::RecordingChanged { on: true, .. })),
        ("list_blocks", |_, _| false),
    ];
    for (name, check) in expected {
        let (_, build) = MODERATOR_ACTIONS.iter().find(|(n, _)| *n == name).unwrap();
        let mut f = fixture();
        let out = f.room.apply(build(&f, f.owner), T0 + 1);
        if name == "list_blocks" {
            assert!(
                matches!(&out.reply, Ok(Reply::Blocks(b)) if b.len() == 1 && b[0].id == f.block),
                "{out:?}"
            );
            continue;
        }
        assert!(out.events.iter().any(|e| check(&f, e)), "{name}: {out:?}");
    }
}

#[test]
fn the_owner_cannot_be_removed_or_demoted_and_nobody_removes_themselves() {
    let mut f = fixture();
    #[rustfmt::skip]
    let cases = [
        (Command::Remove { by: f.moderator, target: f.owner, block: false }, RoomError::InvalidTarget),
        (Command::Remove { by: f.moderator, target: f.owner, block: true }, RoomError::InvalidTarget),
        (Command::Demote { by: f.moderator, target: f.owner }, RoomError::InvalidTarget),
        (Command::Demote { by: f.owner, target: f.owner }, RoomError::InvalidTarget),
        (Command::Remove { by: f.moderator, target: f.moderator, block: true }, RoomError::InvalidTarget),
        (Command::Remove { by: f.moderator, target: ParticipantId::new(), block: false }, RoomError::UnknownParticipant),
        (Command::Mute { by: f.moderator, target: f.removed, muted: true }, RoomError::UnknownParticipant),
        (Command::NameCaller { by: f.moderator, target: f.participant, name: "X".into() }, RoomError::InvalidTarget),
        (Command::NameCaller { by: f.moderator, target: f.phone, name: "".into() }, RoomError::InvalidText),
        (Command::NameCaller { by: f.moderator, target: f.phone, name: "\u{200B}\u{2060}".into() }, RoomError::InvalidText),
        (Command::Unblock { by: f.moderator, block: BlockId::new() }, RoomError::UnknownBlock),
    ];
    for (command, error) in cases {
        let before = f.room.clone();
        let shown = format!("{command:?}");
        let out = f.room.apply(command, T0);
        assert_eq!(out.reply, Err(error), "{shown}");
        assert_eq!(f.room, before, "{shown}");
    }
    // A moderator may step down.
    let out = f.room.apply(
        Command::Demote {
            by: f.moderator,
            target: f.moderator,
        },
        T0,
    );
    assert_eq!(
        out.events,
        vec![Event::RoleChanged {
            target: f.moderator,
            role: Role::Participant,
            by: f.moderator
        }]
    );
}

#[test]
fn idempotent_commands_ack_without_events() {
    let mut f = fixture();
    #[rustfmt::skip]
    let cases = [
        Command::Unlock { by: f.owner },
        Command::StopRecording { by: f.owner },
        Command::Mute { by: f.owner, target: f.other, muted: false },
        Command::Promote { by: f.owner, target: f.moderator },
        Command::SetPermission { by: f.owner, permission: Permission::Chat, audience: Audience::Everyone },
    ];
    for command in cases {
        let out = f.room.apply(command, T0);
        assert_eq!(
            out,
            Outcome {
                reply: Ok(Reply::Ok),
                events: vec![]
            }
        );
    }
}

#[test]
fn lock_permissions_and_blocks_survive_a_restore() {
    let mut f = fixture();
    f.room.apply(Command::Lock { by: f.owner }, T0);
    f.room.apply(
        Command::SetPermission {
            by: f.owner,
            permission: Permission::Share,
            audience: Audience::Moderators,
        },
        T0,
    );
    let durable = f.room.durable().clone();
    let mut restored = RoomState::restore(RoomSettings::default(), durable.clone());
    assert!(restored.locked());
    assert_eq!(restored.permissions().share, Audience::Moderators);
    assert_eq!(restored.durable(), &durable);
    assert!(
        restored.is_empty(),
        "seats are not durable: participants resync by resuming"
    );
    // The block made before the restart still bars the troll's device.
    let mut troll = web("troll", Role::Moderator, false);
    troll.identities = vec![Identity::Device("dev-troll".into())];
    assert_eq!(
        restored.apply(Command::Join(troll), T0).reply,
        Err(RoomError::Blocked)
    );
}

#[test]
fn closing_ends_every_seat_then_the_sessions_documents() {
    let mut f = fixture();
    let seats = f.room.seats().len();
    let out = f.room.apply(Command::Close, T0 + 5);
    assert_eq!(out.reply, Ok(Reply::Ok));
    let left = out
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::Left {
                    reason: LeaveReason::RoomClosed,
                    ..
                }
            )
        })
        .count();
    assert_eq!(left, seats);
    assert_eq!(
        out.events.last(),
        Some(&Event::DocumentExpired {
            document: f.document
        }),
        "documents end after the seats: {out:?}"
    );
    assert!(f.room.is_empty());
    assert!(f.room.documents().is_empty());
}

mod chat_and_share;
mod joins;
mod media;
mod waiting;

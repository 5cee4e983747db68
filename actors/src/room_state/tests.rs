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
    }
}

fn join(room: &mut RoomState, n: Newcomer) -> ParticipantId {
    let id = n.id;
    let out = room.apply(Command::Join(n), T0);
    assert_eq!(out.reply, Ok(Reply::Ok), "{out:?}");
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
fn join_rules_lock_block_full_and_names() {
    let settings = RoomSettings {
        max_participants: 2,
        ..RoomSettings::default()
    };
    let mut room = RoomState::new(settings);
    let owner = join(&mut room, web("owner", Role::Moderator, true));
    room.apply(Command::Lock { by: owner }, T0);
    // A locked room refuses participants and admits a moderator PIN.
    let out = room.apply(Command::Join(web("late", Role::Participant, false)), T0);
    assert_eq!(out.reply, Err(RoomError::Locked));
    assert!(out.events.is_empty());
    join(&mut room, web("chair", Role::Moderator, false));
    room.apply(Command::Unlock { by: owner }, T0);
    // Full: participants refused, moderators still admitted.
    let cases: [(Newcomer, Result<Reply, RoomError>); 7] = [
        (web("p", Role::Participant, false), Err(RoomError::RoomFull)),
        (web("m", Role::Moderator, false), Ok(Reply::Ok)),
        (
            web("   ", Role::Moderator, false),
            Err(RoomError::InvalidText),
        ),
        (
            web(&"n".repeat(101), Role::Moderator, false),
            Err(RoomError::InvalidText),
        ),
        (
            web("bell\u{7}", Role::Moderator, false),
            Err(RoomError::InvalidText),
        ),
        (
            web("\u{200B}", Role::Moderator, false),
            Err(RoomError::InvalidText),
        ),
        (
            web(" \u{FEFF}\u{202E} ", Role::Moderator, false),
            Err(RoomError::InvalidText),
        ),
    ];
    for (n, expected) in cases {
        let name = n.name.clone();
        let before = room.clone();
        let out = room.apply(Command::Join(n), T0);
        assert_eq!(out.reply, expected, "{name:?}");
        if expected.is_err() {
            assert_eq!(room, before);
        }
    }
    let names: Vec<_> = room.seats().iter().map(|s| s.name.clone()).collect();
    assert_eq!(names.len(), 3);
    // A bidirectional override cannot reverse what others read.
    join(&mut room, web("Eve\u{202E}cod.exe", Role::Moderator, false));
    assert!(
        room.seats().iter().any(|s| s.name == "Evecod.exe"),
        "the override is stripped"
    );
}

#[test]
fn removed_may_rejoin_but_blocked_never_by_any_route() {
    let mut f = fixture();
    // Removed (not blocked): a new join with the same identities works.
    let mut again = web("removed", Role::Participant, false);
    again.identities = vec![Identity::Device("dev-removed".into())];
    join(&mut f.room, again);

    // Block a web participant and a caller.
    let victim = web("victim", Role::Participant, false);
    let victim_ids = victim.identities.clone();
    let victim_id = join(&mut f.room, victim);
    let out = f.room.apply(
        Command::Remove {
            by: f.moderator,
            target: victim_id,
            block: true,
        },
        T0,
    );
    assert_eq!(
        out.events.last(),
        Some(&Event::Left {
            id: victim_id,
            reason: LeaveReason::Blocked
        })
    );
    f.room.apply(
        Command::Remove {
            by: f.moderator,
            target: f.phone,
            block: true,
        },
        T0,
    );

    // By new join, on each identity alone, even with the moderator PIN.
    for identity in victim_ids
        .iter()
        .cloned()
        .chain([Identity::Phone("hash-1".into())])
    {
        for role in [Role::Participant, Role::Moderator] {
            let mut n = web("again", role, false);
            n.identities = vec![Identity::Account(AccountId::new()), identity.clone()];
            assert_eq!(
                f.room.apply(Command::Join(n), T0).reply,
                Err(RoomError::Blocked),
                "{identity:?} {role}"
            );
        }
    }
    // By phone: the same number calling again.
    assert_eq!(
        f.room
            .apply(Command::Join(caller("hash-1", Role::Participant)), T0)
            .reply,
        Err(RoomError::Blocked)
    );
    // By resume: the seat is gone.
    let resumed = f.room.apply(
        Command::Resume {
            id: victim_id,
            identities: victim_ids.clone(),
        },
        T0,
    );
    assert_eq!(resumed.reply, Err(RoomError::NotInRoom));
    // Unblocking lets them back.
    let Ok(Reply::Blocks(blocks)) = f.room.apply(Command::ListBlocks { by: f.owner }, T0).reply
    else {
        panic!()
    };
    assert_eq!(blocks.len(), 3);
    let b = blocks.iter().find(|b| b.name == "victim").unwrap();
    f.room.apply(
        Command::Unblock {
            by: f.owner,
            block: b.id,
        },
        T0,
    );
    let mut back = web("victim", Role::Participant, false);
    back.identities = victim_ids;
    join(&mut f.room, back);
}

#[test]
fn a_seat_in_its_resume_grace_is_blocked_by_a_block_on_a_shared_identity() {
    let mut f = fixture();
    let a = web("a", Role::Participant, false);
    let device = a.identities[1].clone();
    let a_id = join(&mut f.room, a);
    let mut b = web("b", Role::Participant, false);
    b.identities = vec![device];
    let b_id = join(&mut f.room, b);
    f.room.apply(Command::Disconnect { id: a_id }, T0);
    f.room.apply(
        Command::Remove {
            by: f.owner,
            target: b_id,
            block: true,
        },
        T0,
    );
    let out = f.room.apply(
        Command::Resume {
            id: a_id,
            identities: vec![],
        },
        T0 + 1,
    );
    assert_eq!(out.reply, Err(RoomError::Blocked));
}

#[test]
fn resume_within_grace_keeps_one_seat_and_grace_expiry_drops() {
    let mut f = fixture();
    let grace = RoomSettings::default().resume_grace_ms;
    let seat_before = f.room.seat(f.participant).unwrap().clone();
    assert_eq!(
        f.room
            .apply(Command::Disconnect { id: f.participant }, T0 + 10)
            .events,
        vec![]
    );
    assert!(f
        .room
        .apply(Command::Tick, T0 + 10 + grace - 1)
        .events
        .is_empty());
    let out = f.room.apply(
        Command::Resume {
            id: f.participant,
            identities: vec![],
        },
        T0 + 10 + grace - 1,
    );
    assert_eq!(
        out.events,
        vec![Event::Resumed { id: f.participant }],
        "no leave, no new join"
    );
    assert_eq!(
        f.room.seat(f.participant),
        Some(&seat_before),
        "same seat, same join time, same role"
    );
    let out = f.room.apply(
        Command::Resume {
            id: f.participant,
            identities: vec![],
        },
        T0 + 20,
    );
    assert_eq!(out.reply, Err(RoomError::AlreadyConnected));

    f.room
        .apply(Command::Disconnect { id: f.participant }, T0 + 100);
    let out = f.room.apply(Command::Tick, T0 + 100 + grace);
    assert_eq!(
        out.events,
        vec![Event::Left {
            id: f.participant,
            reason: LeaveReason::Dropped
        }]
    );
    let out = f.room.apply(
        Command::Resume {
            id: f.participant,
            identities: vec![],
        },
        T0 + 100 + grace,
    );
    assert_eq!(out.reply, Err(RoomError::NotInRoom));
    // Leaving, and leaving twice.
    assert_eq!(
        f.room.apply(Command::Leave { id: f.other }, T0).events,
        vec![Event::Left {
            id: f.other,
            reason: LeaveReason::Left
        }]
    );
    assert_eq!(
        f.room.apply(Command::Leave { id: f.other }, T0).reply,
        Err(RoomError::NotInRoom)
    );
}

#[test]
fn chat_keeps_newlines_and_tabs() {
    let mut room = RoomState::new(RoomSettings::default());
    let p = join(&mut room, web("p", Role::Participant, false));
    let out = room.apply(
        Command::Chat {
            by: p,
            id: MessageId::new(),
            text: "a\n\tb".into(),
        },
        T0,
    );
    assert!(
        matches!(&out.events[..], [Event::ChatPosted(m)] if m.text.as_deref() == Some("a\n\tb")),
        "{out:?}"
    );
}

#[test]
fn chat_permission_limits_history_and_tombstones() {
    let mut room = RoomState::new(RoomSettings {
        chat_history: 3,
        max_chat_chars: 10,
        ..RoomSettings::default()
    });
    let m = join(&mut room, web("m", Role::Moderator, false));
    let p = join(&mut room, web("p", Role::Participant, false));
    let q = join(&mut room, web("q", Role::Participant, false));
    let say = |room: &mut RoomState, by, text: &str| {
        room.apply(
            Command::Chat {
                by,
                id: MessageId::new(),
                text: text.into(),
            },
            T0,
        )
    };
    // Empty, too long, or a control character other than newline and tab
    // (NUL, a terminal escape): refused, nothing posted.
    for bad in ["   ", "0123456789X", "a\u{0}b", "\u{1b}[2J", "x\ry"] {
        let out = say(&mut room, p, bad);
        assert_eq!(out.reply, Err(RoomError::InvalidText), "{bad:?}");
        assert!(out.events.is_empty(), "{bad:?}");
    }
    let out = say(&mut room, p, "  hi  ");
    let Event::ChatPosted(posted) = &out.events[0] else {
        panic!()
    };
    assert_eq!(
        (posted.text.as_deref(), posted.from_name.as_str(), posted.at),
        (Some("hi"), "p", T0)
    );

    room.apply(
        Command::SetPermission {
            by: m,
            permission: Permission::Chat,
            audience: Audience::Moderators,
        },
        T0,
    );
    assert_eq!(say(&mut room, p, "hi").reply, Err(RoomError::NotPermitted));
    assert!(say(&mut room, m, "one").reply.is_ok());

    // Only the author or a moderator deletes; a deleted message keeps its place without text.
    let id = posted.id;
    assert_eq!(
        room.apply(Command::DeleteChat { by: q, message: id }, T0)
            .reply,
        Err(RoomError::Forbidden)
    );
    assert_eq!(
        room.apply(Command::DeleteChat { by: p, message: id }, T0)
            .events,
        vec![Event::ChatDeleted { message: id, by: p }]
    );
    assert_eq!(
        room.apply(Command::DeleteChat { by: m, message: id }, T0)
            .events,
        vec![],
        "already a tombstone"
    );
    let kept: Vec<_> = room.chat().map(|c| c.text.clone()).collect();
    assert_eq!(kept, vec![None, Some("one".to_owned())]);
    for t in ["two", "three", "four"] {
        say(&mut room, m, t);
    }
    let kept: Vec<_> = room.chat().filter_map(|c| c.text.clone()).collect();
    assert_eq!(
        kept,
        vec!["two", "three", "four"],
        "history keeps the last 3"
    );
    assert_eq!(
        room.apply(
            Command::DeleteChat {
                by: m,
                message: MessageId::new()
            },
            T0
        )
        .reply,
        Err(RoomError::UnknownMessage)
    );
}

#[test]
fn share_permission_governs_uploads_and_downloads_need_a_seat() {
    let mut f = fixture();
    let doc = |by| Document {
        id: DocumentId::new(),
        name: "x.txt".into(),
        content_type: "text/plain".into(),
        size: 1,
        by,
        at: T0,
    };
    assert!(f
        .room
        .apply(Command::CheckShare { by: f.participant }, T0)
        .reply
        .is_ok());
    f.room.apply(
        Command::SetPermission {
            by: f.owner,
            permission: Permission::Share,
            audience: Audience::Moderators,
        },
        T0,
    );
    assert_eq!(
        f.room
            .apply(Command::CheckShare { by: f.participant }, T0)
            .reply,
        Err(RoomError::NotPermitted)
    );
    let refused = f.room.apply(
        Command::AddDocument {
            by: f.participant,
            document: doc(f.participant),
        },
        T0,
    );
    assert_eq!(
        refused.reply,
        Err(RoomError::NotPermitted),
        "re-checked when the upload completes"
    );
    assert!(f
        .room
        .apply(
            Command::AddDocument {
                by: f.moderator,
                document: doc(f.moderator)
            },
            T0
        )
        .reply
        .is_ok());
    assert_eq!(f.room.documents().len(), 2);
    // Downloads: anyone seated; not the removed; not an unknown document.
    assert!(f
        .room
        .apply(
            Command::CheckDownload {
                by: f.phone,
                document: f.document
            },
            T0
        )
        .reply
        .is_ok());
    assert_eq!(
        f.room
            .apply(
                Command::CheckDownload {
                    by: f.removed,
                    document: f.document
                },
                T0
            )
            .reply,
        Err(RoomError::NotInRoom)
    );
    assert_eq!(
        f.room
            .apply(
                Command::CheckDownload {
                    by: f.phone,
                    document: DocumentId::new()
                },
                T0
            )
            .reply,
        Err(RoomError::UnknownDocument)
    );
    // The uploader may remove their own document; others may not.
    assert_eq!(
        f.room
            .apply(
                Command::RemoveDocument {
                    by: f.participant,
                    document: f.document
                },
                T0
            )
            .reply,
        Err(RoomError::Forbidden)
    );
    assert!(f
        .room
        .apply(
            Command::RemoveDocument {
                by: f.other,
                document: f.document
            },
            T0
        )
        .reply
        .is_ok());
    assert!(f.room.document(f.document).is_none());
    assert_eq!(
        f.room
            .apply(
                Command::RemoveDocument {
                    by: f.owner,
                    document: f.document
                },
                T0
            )
            .reply,
        Err(RoomError::UnknownDocument)
    );
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

mod media {
    use super::*;
    use crate::media::{ClientSignal, MediaMode, PcKind, TrackSource};

    fn offer(pc: PcKind, tracks: &[TrackSource]) -> ClientSignal {
        ClientSignal::Offer {
            pc,
            sdp: "v=0".into(),
            tracks: tracks
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("t{i}"), *s))
                .collect(),
        }
    }

    #[test]
    fn two_web_participants_alone_go_end_to_end_until_a_third_or_a_recording() {
        let mut room = RoomState::new(RoomSettings::default());
        let a = join(&mut room, web("a", Role::Moderator, false));
        assert_eq!(room.media_mode(), (MediaMode::Forwarded, None), "alone");
        // A moment later: the pair is in the order people joined.
        let newcomer = web("b", Role::Participant, false);
        let b = newcomer.id;
        room.apply(Command::Join(newcomer), T0 + 1);
        assert_eq!(room.media_mode(), (MediaMode::PeerToPeer, Some((a, b))));
        room.apply(Command::StartRecording { by: a }, T0);
        assert_eq!(room.media_mode().0, MediaMode::Forwarded, "recording");
        room.apply(Command::StopRecording { by: a }, T0);
        assert_eq!(room.media_mode().0, MediaMode::PeerToPeer);
        let c = join(&mut room, web("c", Role::Participant, false));
        assert_eq!(room.media_mode().0, MediaMode::Forwarded, "three");
        room.apply(Command::Leave { id: c }, T0);
        assert_eq!(room.media_mode().0, MediaMode::PeerToPeer, "back to two");
        let phone = join(&mut room, caller("h", Role::Participant));
        room.apply(Command::Leave { id: b }, T0);
        assert_eq!(
            room.media_mode().0,
            MediaMode::Forwarded,
            "a phone needs the server"
        );
        let _ = phone;
        let mut off = RoomState::new(RoomSettings {
            peer_to_peer: false,
            ..RoomSettings::default()
        });
        join(&mut off, web("a", Role::Moderator, false));
        join(&mut off, web("b", Role::Participant, false));
        assert_eq!(off.media_mode().0, MediaMode::Forwarded, "the setting");
    }

    #[test]
    fn the_servers_own_signalling_reaches_the_seated_and_not_end_to_end() {
        let mut room = RoomState::new(RoomSettings::default());
        let a = join(&mut room, web("a", Role::Moderator, false));
        let b = join(&mut room, web("b", Role::Participant, false));
        assert!(!room.takes_server_signal(a), "two: end to end");
        let c = join(&mut room, web("c", Role::Participant, false));
        assert!(room.takes_server_signal(a) && room.takes_server_signal(c));
        room.apply(Command::Leave { id: c }, T0);
        assert!(!room.takes_server_signal(a) && !room.takes_server_signal(b));
        assert!(!room.takes_server_signal(c), "gone");
        room.apply(Command::StartRecording { by: a }, T0);
        assert!(room.takes_server_signal(b), "recording: through the server");
        assert!(!room.takes_server_signal(ParticipantId::new()));
    }

    #[test]
    fn signalling_is_checked_for_seat_mode_and_the_share_permission() {
        let mut room = RoomState::new(RoomSettings::default());
        let a = join(&mut room, web("a", Role::Moderator, false));
        let b = join(&mut room, web("b", Role::Participant, false));
        let stranger = ParticipantId::new();
        let peer = offer(PcKind::Peer, &[TrackSource::Microphone]);
        assert_eq!(room.check_signal(a, &peer), Ok(Some(b)), "relayed to b");
        assert_eq!(room.check_signal(b, &peer), Ok(Some(a)));
        assert_eq!(
            room.check_signal(stranger, &peer),
            Err(RoomError::NotInRoom)
        );
        let publish = offer(PcKind::Publish, &[TrackSource::Microphone]);
        assert_eq!(
            room.check_signal(a, &publish),
            Err(RoomError::WrongMediaMode),
            "end to end the server serves no connection: a late publish offer is refused"
        );
        let answer = ClientSignal::Answer {
            pc: PcKind::Subscribe,
            sdp: "v=0".into(),
        };
        assert_eq!(
            room.check_signal(b, &answer),
            Err(RoomError::WrongMediaMode),
            "nor an answer to an offer made before the move"
        );
        let c = join(&mut room, web("c", Role::Participant, false));
        assert_eq!(
            room.check_signal(a, &peer),
            Err(RoomError::WrongMediaMode),
            "no direct calls among three"
        );
        assert_eq!(room.check_signal(a, &publish), Ok(None));
        assert_eq!(room.check_signal(b, &answer), Ok(None));
        let screen = offer(
            PcKind::Publish,
            &[TrackSource::Microphone, TrackSource::Screen],
        );
        assert_eq!(room.check_signal(c, &screen), Ok(None));
        room.apply(
            Command::SetPermission {
                by: a,
                permission: Permission::Share,
                audience: Audience::Moderators,
            },
            T0,
        );
        assert_eq!(room.check_signal(c, &screen), Err(RoomError::NotPermitted));
        assert!(!room.may_present(c) && room.may_present(a));
        assert_eq!(room.check_signal(a, &screen), Ok(None));
        let camera = offer(PcKind::Publish, &[TrackSource::Camera]);
        assert_eq!(room.check_signal(c, &camera), Ok(None));
        let phone = join(&mut room, caller("h", Role::Participant));
        assert_eq!(
            room.check_signal(phone, &camera),
            Err(RoomError::WrongMediaMode),
            "a phone leg has no WebRTC"
        );
    }
}

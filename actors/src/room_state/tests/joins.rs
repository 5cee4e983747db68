//! Who gets a seat: locks, blocks, limits, names, removal and resume.

use super::*;

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
    assert_eq!(
        out.events,
        vec![Event::JoinRefused {
            name: Some("late".into()),
            phone: false,
            reason: RoomError::Locked
        }]
    );
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
    let victim_id = join_past_the_door(&mut f, victim);
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
    // By resume: the seat is gone, and the answer says they are blocked.
    let resumed = f.room.apply(
        Command::Resume {
            id: victim_id,
            identities: victim_ids.clone(),
        },
        T0,
    );
    assert_eq!(resumed.reply, Err(RoomError::Blocked));
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
    let a_id = join_past_the_door(&mut f, a);
    let mut b = web("b", Role::Participant, false);
    b.identities = vec![device];
    let b_id = join_past_the_door(&mut f, b);
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
fn moderators_are_told_who_was_turned_away_at_most_every_two_seconds() {
    let settings = RoomSettings {
        max_participants: 2,
        ..RoomSettings::default()
    };
    let mut room = RoomState::new(settings);
    let guest = join(&mut room, web("guest", Role::Participant, false));
    let owner = join(&mut room, web("owner", Role::Moderator, true));
    room.apply(Command::Lock { by: owner }, T0);
    let notice = |out: &Outcome| {
        out.events.iter().find_map(|e| match e {
            Event::JoinRefused {
                name,
                phone,
                reason,
            } => Some((name.clone(), *phone, *reason)),
            _ => None,
        })
    };
    let knock = |room: &mut RoomState, n: Newcomer, at: Millis| {
        let before_seats = room.seats().len();
        let out = room.apply(Command::Join(n), at);
        assert!(out.reply.is_err(), "{out:?}");
        assert_eq!(room.seats().len(), before_seats, "a refusal seats nobody");
        assert!(out.events.len() <= 1, "{out:?}");
        out
    };
    // Locked: told, with the name given.
    let out = knock(&mut room, web("Eve", Role::Participant, false), T0);
    assert_eq!(
        notice(&out),
        Some((Some("Eve".into()), false, RoomError::Locked))
    );
    // A second knock within the gap is refused without a notice.
    let out = knock(
        &mut room,
        web("Mallory", Role::Participant, false),
        T0 + 1_999,
    );
    assert_eq!(notice(&out), None);
    // After the gap: a phone caller, told as such.
    let out = knock(&mut room, caller("h-1", Role::Participant), T0 + 2_000);
    assert_eq!(
        notice(&out),
        Some((Some("Caller".into()), true, RoomError::Locked))
    );
    // A name that breaks the rules is not repeated to moderators.
    let out = knock(
        &mut room,
        web("bell\u{7}", Role::Participant, false),
        T0 + 4_000,
    );
    assert_eq!(notice(&out), Some((None, false, RoomError::Locked)));
    // Full: told with its reason.
    room.apply(Command::Unlock { by: owner }, T0);
    let out = knock(&mut room, web("Late", Role::Participant, false), T0 + 6_000);
    assert_eq!(
        notice(&out),
        Some((Some("Late".into()), false, RoomError::RoomFull))
    );
    // Blocked: told, so moderators know the person is back.
    let blocked = web("Troll", Role::Participant, false);
    let again = Newcomer {
        id: ParticipantId::new(),
        ..blocked.clone()
    };
    room.apply(
        Command::Remove {
            by: owner,
            target: guest,
            block: false,
        },
        T0,
    );
    let troll = join(&mut room, blocked);
    room.apply(
        Command::Remove {
            by: owner,
            target: troll,
            block: true,
        },
        T0,
    );
    let out = knock(&mut room, again, T0 + 8_000);
    assert_eq!(
        notice(&out),
        Some((Some("Troll".into()), false, RoomError::Blocked))
    );
    // Other refusals (a bad name in an open room) tell nobody.
    let out = room.apply(
        Command::Join(web("   ", Role::Participant, false)),
        T0 + 10_000,
    );
    assert_eq!(out.reply, Err(RoomError::InvalidText));
    assert!(out.events.is_empty());
}

#[test]
fn nobody_is_told_of_a_refusal_when_no_moderator_is_connected() {
    let mut room = RoomState::new(RoomSettings::default());
    let owner = join(&mut room, web("owner", Role::Moderator, true));
    room.apply(Command::Lock { by: owner }, T0);
    room.apply(Command::Disconnect { id: owner }, T0);
    let out = room.apply(Command::Join(web("Eve", Role::Participant, false)), T0);
    assert_eq!(out.reply, Err(RoomError::Locked));
    assert!(out.events.is_empty(), "{out:?}");
    // The moderator's resume is not spent on an old knock: the next one is told.
    room.apply(
        Command::Resume {
            id: owner,
            identities: vec![],
        },
        T0 + 1,
    );
    let out = room.apply(Command::Join(web("Eve", Role::Participant, false)), T0 + 2);
    assert_eq!(out.events.len(), 1, "{out:?}");
}

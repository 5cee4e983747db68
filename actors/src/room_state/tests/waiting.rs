//! The waiting room: who waits, who may admit or deny, and what each
//! outcome changes.

use super::*;

/// A guest with no account, known only by a fresh device credential.
fn guest(name: &str) -> Newcomer {
    Newcomer {
        identities: vec![Identity::Device(format!("fresh-{name}"))],
        ..web(name, Role::Participant, false)
    }
}

/// A room with its owner seated and the waiting room set so.
fn room_with(setting: WaitingRoom, settings: RoomSettings) -> (RoomState, ParticipantId) {
    let mut room = RoomState::new(settings);
    let owner = join(&mut room, web("owner", Role::Moderator, true));
    let out = room.apply(Command::SetWaitingRoom { by: owner, setting }, T0);
    assert!(out.reply.is_ok(), "{out:?}");
    (room, owner)
}

/// Joins and answers whether the newcomer waits (and why).
fn enters(room: &mut RoomState, n: Newcomer) -> Result<Option<WaitReason>, RoomError> {
    let out = room.apply(Command::Join(n), T0);
    match out.reply.clone()? {
        Reply::Waiting => match out.events.as_slice() {
            [Event::Waiting(w)] => Ok(Some(w.reason)),
            other => panic!("a waiter's events: {other:?}"),
        },
        Reply::Ok => {
            assert!(
                matches!(out.events.as_slice(), [Event::Joined(_)]),
                "{out:?}"
            );
            Ok(None)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn who_waits_under_each_setting() {
    use WaitingRoom::*;
    let seated = None;
    let waits = Some(WaitReason::Setting);
    #[rustfmt::skip]
    type Row = (&'static str, fn() -> Newcomer, [Option<WaitReason>; 3]);
    let table: [Row; 5] = [
        //                                                  Off     Everyone UnknownGuests
        (
            "a moderator PIN",
            || web("pin", Role::Moderator, false),
            [seated, seated, seated],
        ),
        (
            "a signed-in participant",
            || web("signed", Role::Participant, false),
            [seated, waits, seated],
        ),
        (
            "an unknown web guest",
            || guest("anon"),
            [seated, waits, waits],
        ),
        (
            "a phone caller",
            || caller("hash-9", Role::Participant),
            [seated, waits, waits],
        ),
        (
            "a caller with the PIN",
            || caller("hash-8", Role::Moderator),
            [seated, seated, seated],
        ),
    ];
    for (who, newcomer, expected) in table {
        for (setting, want) in [Off, Everyone, UnknownGuests].into_iter().zip(expected) {
            let (mut room, _) = room_with(setting, RoomSettings::default());
            assert_eq!(
                enters(&mut room, newcomer()),
                Ok(want),
                "{who} under {setting:?}"
            );
        }
    }
}

#[test]
fn a_device_seen_seated_this_session_is_known() {
    let (mut room, owner) = room_with(WaitingRoom::Off, RoomSettings::default());
    let first = guest("eve");
    let id = first.id;
    assert_eq!(enters(&mut room, first.clone()), Ok(None));
    room.apply(Command::Leave { id }, T0);
    room.apply(
        Command::SetWaitingRoom {
            by: owner,
            setting: WaitingRoom::UnknownGuests,
        },
        T0,
    );
    let again = Newcomer {
        id: ParticipantId::new(),
        ..first
    };
    assert_eq!(
        enters(&mut room, again),
        Ok(None),
        "seen before: straight in"
    );
    assert_eq!(
        enters(&mut room, guest("new")),
        Ok(Some(WaitReason::Setting))
    );
}

/// Every waiting-room action by every kind of sender: only moderators.
#[test]
fn authorization_matrix_of_the_waiting_room() {
    type Build = fn(ParticipantId, ParticipantId) -> Command;
    let actions: [(&str, Build); 4] = [
        ("admit", |by, target| Command::Admit { by, target }),
        ("deny", |by, target| Command::Deny { by, target }),
        ("admit all", |by, _| Command::AdmitAll { by }),
        ("set", |by, _| Command::SetWaitingRoom {
            by,
            setting: WaitingRoom::Off,
        }),
    ];
    for (action, build) in actions {
        for who in ["owner", "moderator", "participant", "waiter", "stranger"] {
            let (mut room, owner) = room_with(WaitingRoom::Everyone, RoomSettings::default());
            let moderator = join(&mut room, web("mod", Role::Moderator, false));
            // Participants wait too; admit one to have a seated participant.
            let p = web("p", Role::Participant, false);
            let participant = p.id;
            room.apply(Command::Join(p), T0);
            room.apply(
                Command::Admit {
                    by: owner,
                    target: participant,
                },
                T0,
            );
            let w = guest("w");
            let waiter = w.id;
            assert_eq!(enters(&mut room, w), Ok(Some(WaitReason::Setting)));
            let by = match who {
                "owner" => owner,
                "moderator" => moderator,
                "participant" => participant,
                "waiter" => waiter,
                _ => ParticipantId::new(),
            };
            let before = room.clone();
            let out = room.apply(build(by, waiter), T0 + 1);
            match who {
                "owner" | "moderator" => assert!(out.reply.is_ok(), "{who} {action}: {out:?}"),
                _ => {
                    let want = if who == "participant" {
                        RoomError::Forbidden
                    } else {
                        RoomError::NotInRoom
                    };
                    assert_eq!(out.reply, Err(want), "{who} {action}");
                    assert!(out.events.is_empty(), "{who} {action}: {:?}", out.events);
                    assert_eq!(room, before, "{who} {action} changed the room");
                }
            }
        }
    }
}

#[test]
fn only_moderators_see_the_waiting_list() {
    let (mut room, owner) = room_with(WaitingRoom::Everyone, RoomSettings::default());
    let w = guest("w");
    let out = room.apply(Command::Join(w), T0);
    let waiting = &out.events[0];
    assert!(crate::view::for_viewer(waiting, Role::Moderator).is_some());
    assert_eq!(crate::view::for_viewer(waiting, Role::Participant), None);
    let snap = crate::view::Snapshot::of(&room, owner, Role::Moderator);
    assert_eq!(snap.waiting.len(), 1);
    assert_eq!(snap.waiting_room, WaitingRoom::Everyone);
}

#[test]
fn admit_seats_the_waiter_and_unknown_targets_are_refused() {
    let (mut room, owner) = room_with(WaitingRoom::Everyone, RoomSettings::default());
    let w = guest("w");
    let id = w.id;
    enters(&mut room, w).unwrap();
    assert!(room.is_waiting(id) && room.seat(id).is_none());
    let out = room.apply(
        Command::Admit {
            by: owner,
            target: id,
        },
        T0 + 5,
    );
    assert_eq!(out.reply, Ok(Reply::Ok));
    assert!(matches!(
        out.events.as_slice(),
        [Event::WaitingLeft { id: a, outcome: WaitOutcome::Admitted { by } }, Event::Joined(seat)]
            if *a == id && *by == owner && seat.id == id && seat.joined_at == T0 + 5
    ));
    assert!(!room.is_waiting(id) && room.seat(id).is_some());
    // Twice, or someone who never waited: nothing to admit.
    let again = room.apply(
        Command::Admit {
            by: owner,
            target: id,
        },
        T0,
    );
    assert_eq!(again.reply, Err(RoomError::UnknownParticipant));
}

#[test]
fn a_denied_newcomer_may_not_wait_again_until_the_cooldown_ends() {
    let settings = RoomSettings {
        deny_cooldown_ms: 60_000,
        ..RoomSettings::default()
    };
    let (mut room, owner) = room_with(WaitingRoom::Everyone, settings);
    let w = guest("w");
    let id = w.id;
    enters(&mut room, w.clone()).unwrap();
    let out = room.apply(
        Command::Deny {
            by: owner,
            target: id,
        },
        T0,
    );
    assert_eq!(
        out.events,
        vec![Event::WaitingLeft {
            id,
            outcome: WaitOutcome::Denied { by: owner }
        }]
    );
    assert!(room.waiting().is_empty());
    let again = || Newcomer {
        id: ParticipantId::new(),
        ..w.clone()
    };
    let out = room.apply(Command::Join(again()), T0 + 59_999);
    assert_eq!(out.reply, Err(RoomError::Denied));
    assert!(room.waiting().is_empty());
    // Even with the setting off: a moderator said no.
    room.apply(
        Command::SetWaitingRoom {
            by: owner,
            setting: WaitingRoom::Off,
        },
        T0,
    );
    assert_eq!(
        room.apply(Command::Join(again()), T0 + 1).reply,
        Err(RoomError::Denied)
    );
    // The cooldown over, the same person may come in.
    assert_eq!(
        room.apply(Command::Join(again()), T0 + 60_000).reply,
        Ok(Reply::Ok)
    );
}

#[test]
fn admit_all_lets_people_in_in_the_order_they_came_while_seats_last() {
    let settings = RoomSettings {
        max_participants: 3,
        ..RoomSettings::default()
    };
    let (mut room, owner) = room_with(WaitingRoom::Everyone, settings);
    let ids: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            let w = guest(n);
            let id = w.id;
            enters(&mut room, w).unwrap();
            id
        })
        .collect();
    let out = room.apply(Command::AdmitAll { by: owner }, T0);
    assert_eq!(out.reply, Ok(Reply::Ok));
    let joined: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Joined(s) => Some(s.id),
            _ => None,
        })
        .collect();
    assert_eq!(joined, ids[..2], "the owner and two fill the three seats");
    assert_eq!(room.waiting().len(), 1);
    assert_eq!(room.waiting()[0].id(), ids[2]);
    // Admitting the last one refuses: the room is full.
    let out = room.apply(
        Command::Admit {
            by: owner,
            target: ids[2],
        },
        T0,
    );
    assert_eq!(out.reply, Err(RoomError::RoomFull));
    assert!(room.is_waiting(ids[2]));
}

#[test]
fn after_a_block_unknown_guests_wait_for_the_rest_of_the_session() {
    let (mut room, owner) = room_with(WaitingRoom::Off, RoomSettings::default());
    let troll = guest("troll");
    let troll_id = troll.id;
    enters(&mut room, troll).unwrap();
    assert_eq!(enters(&mut room, guest("before")), Ok(None));
    room.apply(
        Command::Remove {
            by: owner,
            target: troll_id,
            block: true,
        },
        T0,
    );
    // The blocked person from a fresh browser: a new device, the same name.
    let returning = Newcomer {
        identities: vec![Identity::Device("another-browser".into())],
        ..guest("troll")
    };
    assert_eq!(
        enters(&mut room, returning),
        Ok(Some(WaitReason::AfterBlock))
    );
    // A fresh account is no proof (anyone can make one): it waits too.
    assert_eq!(
        enters(&mut room, web("signed", Role::Participant, false)),
        Ok(Some(WaitReason::AfterBlock))
    );
    // Whoever was seated this session, and a moderator, come straight in.
    let before = Newcomer {
        id: ParticipantId::new(),
        ..guest("before")
    };
    assert_eq!(enters(&mut room, before), Ok(None));
    assert_eq!(
        enters(&mut room, web("pin", Role::Moderator, false)),
        Ok(None)
    );
    // A new session starts trusting again (the block itself stays).
    let restored = RoomState::restore(RoomSettings::default(), room.durable().clone());
    let mut restored = restored;
    assert_eq!(enters(&mut restored, guest("later")), Ok(None));
}

#[test]
fn a_held_newcomer_waits_whatever_the_setting_and_moderators_learn_why() {
    let (mut room, _) = room_with(WaitingRoom::Off, RoomSettings::default());
    let held = Newcomer {
        hold: true,
        ..guest("right-codes")
    };
    assert_eq!(enters(&mut room, held), Ok(Some(WaitReason::Guessing)));
    let pin = Newcomer {
        hold: true,
        ..web("chair", Role::Moderator, false)
    };
    assert_eq!(enters(&mut room, pin), Ok(None), "the PIN still enters");
}

#[test]
fn a_locked_room_refuses_before_anyone_waits_and_the_list_is_bounded() {
    let settings = RoomSettings {
        max_waiting: 2,
        ..RoomSettings::default()
    };
    let (mut room, owner) = room_with(WaitingRoom::Everyone, settings);
    enters(&mut room, guest("a")).unwrap();
    enters(&mut room, guest("b")).unwrap();
    assert_eq!(enters(&mut room, guest("c")), Err(RoomError::RoomFull));
    room.apply(Command::Lock { by: owner }, T0);
    assert_eq!(enters(&mut room, guest("d")), Err(RoomError::Locked));
    assert_eq!(room.waiting().len(), 2);
}

#[test]
fn a_wait_ends_when_the_newcomer_leaves_and_when_the_room_closes() {
    let (mut room, owner) = room_with(WaitingRoom::Everyone, RoomSettings::default());
    let a = guest("a");
    let (a_id, b) = (a.id, guest("b"));
    let b_id = b.id;
    enters(&mut room, a).unwrap();
    enters(&mut room, b).unwrap();
    let out = room.apply(Command::Leave { id: a_id }, T0);
    assert_eq!(
        out.events,
        vec![Event::WaitingLeft {
            id: a_id,
            outcome: WaitOutcome::Gone
        }]
    );
    // The owner leaves; someone still waits, so the room is not empty.
    room.apply(Command::Leave { id: owner }, T0);
    assert!(!room.is_empty());
    let out = room.apply(Command::Close, T0);
    assert_eq!(
        out.events,
        vec![Event::WaitingLeft {
            id: b_id,
            outcome: WaitOutcome::Gone
        }]
    );
    assert!(room.is_empty());
}

#[test]
fn the_setting_is_durable_and_setting_it_again_changes_nothing() {
    let (mut room, owner) = room_with(WaitingRoom::UnknownGuests, RoomSettings::default());
    assert_eq!(room.durable().waiting_room, WaitingRoom::UnknownGuests);
    let out = room.apply(
        Command::SetWaitingRoom {
            by: owner,
            setting: WaitingRoom::UnknownGuests,
        },
        T0,
    );
    assert_eq!(
        out,
        Outcome {
            reply: Ok(Reply::Ok),
            events: vec![]
        }
    );
    let restored = RoomState::restore(RoomSettings::default(), room.durable().clone());
    assert_eq!(restored.waiting_room(), WaitingRoom::UnknownGuests);
}

#[test]
fn a_block_turns_the_same_person_away_from_the_door_and_admit_checks_again() {
    let (mut room, owner) = room_with(WaitingRoom::Off, RoomSettings::default());
    let troll = guest("troll");
    let troll_id = troll.id;
    enters(&mut room, troll.clone()).unwrap();
    room.apply(
        Command::SetWaitingRoom {
            by: owner,
            setting: WaitingRoom::Everyone,
        },
        T0,
    );
    // The same browser, in another tab, waits at the door.
    let tab = Newcomer {
        id: ParticipantId::new(),
        ..troll
    };
    let tab_id = tab.id;
    assert_eq!(enters(&mut room, tab), Ok(Some(WaitReason::Setting)));
    let out = room.apply(
        Command::Remove {
            by: owner,
            target: troll_id,
            block: true,
        },
        T0,
    );
    assert!(out.events.contains(&Event::WaitingLeft {
        id: tab_id,
        outcome: WaitOutcome::Blocked
    }));
    assert!(room.waiting().is_empty());
    let out = room.apply(Command::AdmitAll { by: owner }, T0);
    assert_eq!(out.events, vec![], "nobody left to admit");
}

#[test]
fn a_wait_nobody_answers_ends_after_the_longest_wait() {
    let settings = RoomSettings {
        max_wait_ms: 60_000,
        ..RoomSettings::default()
    };
    let (mut room, _) = room_with(WaitingRoom::Everyone, settings);
    let w = guest("w");
    let id = w.id;
    enters(&mut room, w).unwrap();
    assert_eq!(room.apply(Command::Tick, T0 + 59_999).events, vec![]);
    assert_eq!(
        room.apply(Command::Tick, T0 + 60_000).events,
        vec![Event::WaitingLeft {
            id,
            outcome: WaitOutcome::Expired
        }]
    );
    assert!(room.waiting().is_empty());
}

#[test]
fn a_restart_after_a_failure_keeps_what_the_door_remembers() {
    let (mut room, owner) = room_with(WaitingRoom::Off, RoomSettings::default());
    let troll = guest("troll");
    let troll_id = troll.id;
    enters(&mut room, troll).unwrap();
    room.apply(
        Command::Remove {
            by: owner,
            target: troll_id,
            block: true,
        },
        T0,
    );
    enters(&mut room, guest("waiting")).unwrap();
    let seats = room.seats().into_iter().cloned().collect();
    let mut recovered = RoomState::recover_from(&mut room, seats);
    assert!(recovered.waiting().is_empty(), "the actor closes those");
    assert_eq!(
        enters(&mut recovered, guest("fresh")),
        Ok(Some(WaitReason::AfterBlock)),
        "still wary after the block"
    );
}

#[test]
fn one_origin_cannot_fill_the_waiting_list() {
    let settings = RoomSettings {
        max_waiting_per_origin: 2,
        ..RoomSettings::default()
    };
    let (mut room, _) = room_with(WaitingRoom::Everyone, settings);
    let from = |name: &str, origin: Option<&str>| Newcomer {
        origin: origin.map(str::to_owned),
        ..guest(name)
    };
    for name in ["a", "b"] {
        assert!(enters(&mut room, from(name, Some("192.0.2.1"))).is_ok());
    }
    let before = room.clone();
    assert_eq!(
        enters(&mut room, from("c", Some("192.0.2.1"))),
        Err(RoomError::TooManyWaiting)
    );
    assert_eq!(room, before, "a refused join changes nothing");
    // Another address, and phone calls (no origin), still wait.
    assert!(enters(&mut room, from("d", Some("192.0.2.2"))).is_ok());
    for name in ["e", "f", "g"] {
        assert!(enters(&mut room, from(name, None)).is_ok());
    }
    assert_eq!(room.waiting().len(), 6);
}

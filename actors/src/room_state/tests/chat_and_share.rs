//! Chat and documents under their permissions.

use super::*;

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

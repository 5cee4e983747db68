//! Media mode and signalling rules.

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

#[test]
fn a_subscriber_says_which_video_it_watches_of_someone_seated() {
    let mut room = RoomState::new(RoomSettings::default());
    let a = join(&mut room, web("a", Role::Moderator, false));
    let b = join(&mut room, web("b", Role::Participant, false));
    let watch = |publisher, source| ClientSignal::Watch {
        publisher,
        source,
        visible: false,
        height: None,
    };
    assert_eq!(
        room.check_signal(a, &watch(b, TrackSource::Camera)),
        Err(RoomError::WrongMediaMode),
        "end to end the server sends nothing to choose from"
    );
    let c = join(&mut room, web("c", Role::Participant, false));
    assert_eq!(
        room.check_signal(a, &watch(b, TrackSource::Camera)),
        Ok(None)
    );
    assert_eq!(
        room.check_signal(c, &watch(b, TrackSource::Screen)),
        Ok(None)
    );
    assert_eq!(
        room.check_signal(a, &watch(b, TrackSource::Microphone)),
        Err(RoomError::InvalidTarget),
        "audio is always sent"
    );
    assert_eq!(
        room.check_signal(a, &watch(ParticipantId::new(), TrackSource::Camera)),
        Err(RoomError::UnknownParticipant)
    );
    room.apply(Command::Leave { id: c }, T0);
    assert_eq!(
        room.check_signal(c, &watch(b, TrackSource::Camera)),
        Err(RoomError::NotInRoom)
    );
}

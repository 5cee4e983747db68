//! What the room does per event besides its rules: build each recipient's
//! view (phone numbers masked for non-moderators) and spell it as JSON, and
//! what the persister does per event: turn it into rows. Also the cost of
//! masking one number.
//!
//! Run with `cargo bench --bench encode`; figures go to docs/performance.md.

use std::hint::black_box;

use conclave::persist::convert::{records, Place, Seal};
use conclave::phone::mask_number;
use conclave::secrets::SecretKey;
use conclave::ws::encode::to_client;
use conclave_actors::room_state::{
    ChatMessage, Command, Endpoint, Event, Identity, Newcomer, RoomSettings, RoomState, Seat,
};
use conclave_actors::view::{for_viewer, Snapshot, ToClient};
use conclave_actors::{ConferenceId, MessageId, ParticipantId, Role, SessionId};
use criterion::{criterion_group, criterion_main, Criterion};

const T0: i64 = 1_900_000_000_000;

fn phone_seat() -> Seat {
    Seat {
        id: ParticipantId::new(),
        name: "Caller".into(),
        role: Role::Participant,
        owner: false,
        endpoint: Endpoint::Phone {
            number: "+441234567123".into(),
            masked: mask_number("+441234567123"),
        },
        identities: vec![Identity::Phone("f".repeat(64))],
        muted: false,
        joined_at: T0,
        disconnected_at: None,
    }
}

fn chat() -> Event {
    Event::ChatPosted(ChatMessage {
        id: MessageId::new(),
        from: ParticipantId::new(),
        from_name: "Ada Lovelace".into(),
        at: T0,
        text: Some("The agenda is in the shared documents; item three first.".into()),
    })
}

fn bench(c: &mut Criterion) {
    c.bench_function("mask a number", |b| {
        b.iter(|| mask_number(black_box("+441234567123")))
    });
    let joined = Event::Joined(phone_seat());
    c.bench_function(
        "view + JSON: phone participant joined (participant's view)",
        |b| {
            b.iter(|| {
                let view = for_viewer(black_box(&joined), Role::Participant).unwrap();
                to_client(&view).to_string()
            })
        },
    );
    let chat = chat();
    c.bench_function("view + JSON: chat message", |b| {
        b.iter(|| {
            let view = for_viewer(black_box(&chat), Role::Participant).unwrap();
            to_client(&view).to_string()
        })
    });
    // A snapshot of a room of 1,000, as a late joiner gets it.
    let mut room = RoomState::new(RoomSettings::default());
    let mut last = ParticipantId::new();
    for i in 0..1000 {
        last = ParticipantId::new();
        room.apply(
            Command::Join(Newcomer {
                id: last,
                name: format!("participant {i}"),
                role: if i == 0 {
                    Role::Moderator
                } else {
                    Role::Participant
                },
                owner: false,
                endpoint: Endpoint::Web,
                identities: vec![Identity::Device(format!("d{i}"))],
                hold: false,
                origin: None,
            }),
            T0,
        );
    }
    c.bench_function("snapshot + JSON: room of 1,000", |b| {
        b.iter(|| {
            let s = Snapshot::of(black_box(&room), last, Role::Participant);
            to_client(&ToClient::Snapshot(Box::new(s))).to_string()
        })
    });
    let place = Place {
        conference: ConferenceId::new(),
        session: SessionId::new(),
    };
    // Sealed with a summary key, as a meeting's rows are (docs/encryption.md).
    let (server, summary) = (SecretKey::generate(), SecretKey::generate());
    let seal = Seal {
        server: &server,
        summary: Some(&summary),
    };
    c.bench_function("persister rows: chat message", |b| {
        b.iter(|| records(place, black_box(&chat), T0, &seal))
    });
    let lock = Event::Locked {
        by: ParticipantId::new(),
    };
    c.bench_function("persister rows: lock (state + audit)", |b| {
        b.iter(|| records(place, black_box(&lock), T0, &seal))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The `Registry`: one room per live conference, started on demand, gone
//! when empty, never lingering after a refused first join.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use conclave_actors::registry::{FindRoom, LiveRooms, OpenRoom, Registry};
use conclave_actors::room::{Apply, Connect, Link, RoomSink};
use conclave_actors::room_state::{
    Block, Command, Durable, Endpoint, Event, Identity, Millis, Newcomer, RoomError, RoomSettings,
};
use conclave_actors::{BlockId, ConferenceId, ParticipantId, Role, SessionId};

struct NoSink;
impl RoomSink for NoSink {
    fn opened(&self, _: ConferenceId, _: SessionId, _: Millis) {}
    fn record(&self, _: ConferenceId, _: SessionId, _: &Event, _: Millis) -> u64 {
        0
    }
    fn closed(&self, _: ConferenceId, _: SessionId, _: Millis) {}
}

fn registry() -> Addr<Registry> {
    Registry::new(
        RoomSettings::default(),
        Arc::new(NoSink),
        Arc::new(|| 1_900_000_000_000),
    )
    .start()
}

fn newcomer(device: &str) -> Newcomer {
    Newcomer {
        id: ParticipantId::new(),
        name: "n".into(),
        role: Role::Participant,
        owner: false,
        endpoint: Endpoint::Web,
        identities: vec![Identity::Device(device.into())],
        hold: false,
        origin: None,
    }
}

async fn live_rooms_becomes(registry: &Addr<Registry>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while registry.send(LiveRooms).await.unwrap() != n {
        assert!(Instant::now() < deadline, "live rooms never became {n}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn one_room_per_conference_replaced_once_empty() {
    let registry = registry();
    let conference = ConferenceId::new();
    let open = || OpenRoom {
        conference,
        durable: Durable::default(),
    };
    let first = registry.send(open()).await.unwrap();
    let again = registry.send(open()).await.unwrap();
    let (link, _rx, _close) = Link::new(8);
    let n = newcomer("a");
    let id = n.id;
    first
        .send(Connect { newcomer: n, link })
        .await
        .unwrap()
        .unwrap();
    let (link, _rx2, _close2) = Link::new(8);
    let n2 = newcomer("b");
    let id2 = n2.id;
    again
        .send(Connect { newcomer: n2, link })
        .await
        .unwrap()
        .unwrap();
    let other = registry
        .send(OpenRoom {
            conference: ConferenceId::new(),
            durable: Durable::default(),
        })
        .await
        .unwrap();
    let (link, _rx3, _close3) = Link::new(8);
    other
        .send(Connect {
            newcomer: newcomer("c"),
            link,
        })
        .await
        .unwrap()
        .unwrap();
    live_rooms_becomes(&registry, 2).await;
    assert!(registry
        .send(FindRoom { conference })
        .await
        .unwrap()
        .is_some());

    // Both leave the first room (opened twice, one room): it stops and the
    // registry forgets it; the other room stays.
    first
        .send(Apply(Command::Leave { id }))
        .await
        .unwrap()
        .unwrap();
    live_rooms_becomes(&registry, 2).await;
    again
        .send(Apply(Command::Leave { id: id2 }))
        .await
        .unwrap()
        .unwrap();
    live_rooms_becomes(&registry, 1).await;
    assert!(!first.connected());
    let fresh = registry.send(open()).await.unwrap();
    assert!(fresh.connected(), "a stopped room is replaced by a new one");
}

#[actix_rt::test]
async fn a_room_starts_from_its_durable_state_and_a_refused_join_leaves_nothing_behind() {
    let registry = registry();
    let conference = ConferenceId::new();
    let durable = Durable {
        waiting_room: Default::default(),
        locked: false,
        permissions: Default::default(),
        blocks: vec![Block {
            id: BlockId::new(),
            identities: vec![Identity::Device("banned".into())],
            name: "troll".into(),
            by: ParticipantId::new(),
            at: 0,
        }],
    };
    let room = registry
        .send(OpenRoom {
            conference,
            durable,
        })
        .await
        .unwrap();
    let (link, _rx, _close) = Link::new(8);
    let refused = room
        .send(Connect {
            newcomer: newcomer("banned"),
            link,
        })
        .await
        .unwrap();
    assert_eq!(refused, Err(RoomError::Blocked));
    live_rooms_becomes(&registry, 0).await;
    assert!(registry
        .send(FindRoom { conference })
        .await
        .unwrap()
        .is_none());

    // A new room for the same conference works.
    let room = registry
        .send(OpenRoom {
            conference,
            durable: Durable::default(),
        })
        .await
        .unwrap();
    let (link, _rx, _close) = Link::new(8);
    let n = newcomer("fine");
    let id = n.id;
    room.send(Connect { newcomer: n, link })
        .await
        .unwrap()
        .unwrap();
    live_rooms_becomes(&registry, 1).await;
    room.send(Apply(Command::Leave { id }))
        .await
        .unwrap()
        .unwrap();
    live_rooms_becomes(&registry, 0).await;
}

//! The room state machine's cost per command, in a room of N seats:
//! join, chat, lock/unlock, remove-and-block, and a resume. The actor adds
//! fan-out on top; this is the rule-checking floor.
//!
//! Run with `cargo bench --bench room_state`; figures go to docs/performance.md.

use conclave_actors::room_state::{Command, Endpoint, Identity, Newcomer, RoomSettings, RoomState};
use conclave_actors::{AccountId, MessageId, ParticipantId, Role};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const T0: i64 = 1_900_000_000_000;

fn newcomer(i: usize, role: Role) -> Newcomer {
    Newcomer {
        id: ParticipantId::new(),
        name: format!("participant {i}"),
        role,
        owner: false,
        endpoint: Endpoint::Web,
        identities: vec![
            Identity::Account(AccountId::new()),
            Identity::Device(format!("device-{i}")),
        ],
        hold: false,
        origin: None,
    }
}

/// A room with one moderator and `n - 1` participants, and a few blocks.
fn room(n: usize) -> (RoomState, ParticipantId, Vec<ParticipantId>) {
    let mut room = RoomState::new(RoomSettings {
        max_participants: n + 10,
        ..RoomSettings::default()
    });
    let chair = newcomer(0, Role::Moderator);
    let chair_id = chair.id;
    room.apply(Command::Join(chair), T0);
    let ids = (1..n)
        .map(|i| {
            let c = newcomer(i, Role::Participant);
            let id = c.id;
            room.apply(Command::Join(c), T0);
            id
        })
        .collect::<Vec<_>>();
    for i in 0..5 {
        let troll = newcomer(n + i, Role::Participant);
        let id = troll.id;
        room.apply(Command::Join(troll), T0);
        room.apply(
            Command::Remove {
                by: chair_id,
                target: id,
                block: true,
            },
            T0,
        );
    }
    (room, chair_id, ids)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("room_state");
    for n in [10usize, 1000] {
        let (base, chair, ids) = room(n);
        // Mutating commands run on one live room; only the measured command
        // is timed and its undo runs outside the timed span, so the figures
        // are the rule's cost, not the allocator's churn from cloning rooms.
        let mut live = base.clone();
        group.bench_with_input(BenchmarkId::new("join", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let c = newcomer(n + 100 + i as usize, Role::Participant);
                    let id = c.id;
                    let started = Instant::now();
                    let out = live.apply(Command::Join(c), T0);
                    total += started.elapsed();
                    black_box(out);
                    live.apply(Command::Leave { id }, T0);
                }
                total
            })
        });
        let mut live = base.clone();
        let speaker = ids[ids.len() / 2];
        group.bench_with_input(BenchmarkId::new("chat", n), &n, |b, _| {
            b.iter(|| {
                live.apply(
                    Command::Chat {
                        by: speaker,
                        id: MessageId::new(),
                        text: "hello everyone".into(),
                    },
                    T0,
                )
            })
        });
        let mut live = base.clone();
        let mut locked = false;
        group.bench_with_input(BenchmarkId::new("lock_toggle", n), &n, |b, _| {
            b.iter(|| {
                locked = !locked;
                let command = if locked {
                    Command::Lock { by: chair }
                } else {
                    Command::Unlock { by: chair }
                };
                live.apply(command, T0)
            })
        });
        let target = ids[0];
        for block in [false, true] {
            let name = if block { "remove_and_block" } else { "remove" };
            let mut live = base.clone();
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for i in 0..iters {
                        let c = newcomer(n + 100 + i as usize, Role::Participant);
                        let victim = c.id;
                        live.apply(Command::Join(c), T0);
                        let started = Instant::now();
                        let out = live.apply(
                            Command::Remove {
                                by: chair,
                                target: victim,
                                block,
                            },
                            T0,
                        );
                        total += started.elapsed();
                        if let Some(conclave_actors::room_state::Event::Blocked(b)) =
                            out.events.first()
                        {
                            live.apply(
                                Command::Unblock {
                                    by: chair,
                                    block: b.id,
                                },
                                T0,
                            );
                        }
                        black_box(out);
                    }
                    total
                })
            });
        }
        let mut live = base.clone();
        group.bench_with_input(BenchmarkId::new("disconnect_resume", n), &n, |b, _| {
            b.iter(|| {
                live.apply(Command::Disconnect { id: target }, T0);
                live.apply(
                    Command::Resume {
                        id: target,
                        identities: vec![],
                    },
                    T0,
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

use super::*;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
    RecvDelta, RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk, SymbolSizeTypeTcc,
};

#[test]
fn feedback_names_each_packet_sent_with_its_arrival_or_its_loss() {
    let t0 = Instant::now();
    let mut sent = Sent::default();
    for i in 0..5u64 {
        assert_eq!(
            sent.stamp(t0 + Duration::from_millis(i), 1000 + i as usize),
            i as u16
        );
    }
    let received = |delta| RecvDelta {
        type_tcc_packet: SymbolTypeTcc::PacketReceivedSmallDelta,
        delta,
    };
    let fb = TransportLayerCc {
        base_sequence_number: 1,
        packet_status_count: 4,
        reference_time: 10,
        packet_chunks: vec![
            PacketStatusChunk::RunLengthChunk(RunLengthChunk {
                type_tcc: StatusChunkTypeTcc::RunLengthChunk,
                packet_status_symbol: SymbolTypeTcc::PacketReceivedSmallDelta,
                run_length: 2,
            }),
            PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
                type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
                symbol_size: SymbolSizeTypeTcc::TwoBit,
                symbol_list: vec![
                    SymbolTypeTcc::PacketNotReceived,
                    SymbolTypeTcc::PacketReceivedSmallDelta,
                    // Past the status count: not a packet.
                    SymbolTypeTcc::PacketReceivedSmallDelta,
                ],
            }),
        ],
        recv_deltas: vec![received(1_000), received(2_000), received(500)],
        ..Default::default()
    };
    let seen = sent.feedback(&fb);
    let base = 10 * 64_000;
    assert_eq!(
        seen,
        vec![
            Observation {
                sent_at: t0 + Duration::from_millis(1),
                size: 1001,
                arrival_us: Some(base + 1_000)
            },
            Observation {
                sent_at: t0 + Duration::from_millis(2),
                size: 1002,
                arrival_us: Some(base + 3_000)
            },
            Observation {
                sent_at: t0 + Duration::from_millis(3),
                size: 1003,
                arrival_us: None
            },
            Observation {
                sent_at: t0 + Duration::from_millis(4),
                size: 1004,
                arrival_us: Some(base + 3_500)
            },
        ]
    );
    // Numbers never sent, or overwritten since, are not reported on.
    let stranger = TransportLayerCc {
        base_sequence_number: 900,
        ..fb
    };
    assert!(sent.feedback(&stranger).is_empty());
}

/// A link of `capacity` bit/s with a queue in front of it, carrying a
/// sender's frames: 30 a second of `rate / 30` bits in 1,200-byte
/// packets. The estimator gets feedback every 100 ms for `secs`.
struct Link {
    capacity: f64,
    free_at: f64,
    clock: f64,
    t0: Instant,
}

impl Link {
    fn new(capacity: f64) -> Self {
        Self {
            capacity,
            free_at: 0.0,
            clock: 0.0,
            t0: Instant::now(),
        }
    }

    fn run(&mut self, e: &mut Estimator, rate: impl Fn(&Estimator) -> f64, secs: f64) {
        let end = self.clock + secs;
        while self.clock < end {
            // One 100 ms feedback interval: three frames.
            let mut observed = Vec::new();
            for _ in 0..3 {
                let bits = rate(e) / 30.0;
                let packets = (bits / 9600.0).ceil().max(1.0) as usize;
                for p in 0..packets {
                    let sent = self.clock + p as f64 * 0.0001;
                    let start = self.free_at.max(sent);
                    self.free_at = start + 9600.0 / self.capacity;
                    observed.push(Observation {
                        sent_at: self.t0 + Duration::from_secs_f64(sent),
                        size: 1200,
                        arrival_us: Some((self.free_at * 1e6) as i64),
                    });
                }
                self.clock += 1.0 / 30.0;
            }
            e.on_feedback(
                &observed,
                self.t0 + Duration::from_secs_f64(self.clock + 0.05),
            );
        }
    }
}

#[test]
fn a_link_with_room_keeps_the_estimate() {
    let mut e = Estimator::default();
    Link::new(5_000_000.0).run(&mut e, |_| 1_500_000.0, 10.0);
    assert_eq!(e.last_overuse(), None);
    assert!(e.estimate() >= 1_900_000, "{}", e.estimate());
    let acked = e.acked_bps().unwrap();
    assert!((1_300_000..1_800_000).contains(&acked), "{acked}");
}

#[test]
fn a_queue_building_is_seen_and_the_rate_falls_to_what_arrives() {
    let mut e = Estimator::default();
    let mut link = Link::new(400_000.0);
    // Sending at the estimate, as the allocation would, into 400 kbit/s.
    link.run(&mut e, |e| e.estimate() as f64, 3.0);
    assert!(e.last_overuse().is_some(), "over-use is seen");
    // Near the link's rate: from 2 Mbit/s to within a fifth of 400 kbit/s.
    assert!(e.estimate() <= 480_000, "{}", e.estimate());
    assert!(e.estimate() >= 150_000, "{}", e.estimate());
    // Within the link, it climbs again, but not past half again what
    // arrives.
    let was = e.estimate();
    link.run(&mut e, |_| 250_000.0, 8.0);
    assert!(
        e.estimate() > was.min(300_000),
        "{} after {was}",
        e.estimate()
    );
    assert!(e.estimate() <= 400_000, "{}", e.estimate());
    // A probe carried 1.5 Mbit/s: the link has that room.
    e.proven(1_500_000);
    assert_eq!(e.estimate(), 1_500_000);
}

#[test]
fn a_tenth_lost_lowers_the_rate() {
    let mut e = Estimator::default();
    let t0 = Instant::now();
    let observed: Vec<Observation> = (0..40)
        .map(|i| Observation {
            sent_at: t0 + Duration::from_millis(i),
            size: 1200,
            arrival_us: (i % 5 != 0).then_some(i as i64 * 1000),
        })
        .collect();
    e.on_feedback(&observed, t0 + Duration::from_millis(100));
    assert!(e.estimate() < START_BPS * 95 / 100, "{}", e.estimate());
}

#[test]
fn a_numbers_bytes_are_big_endian_without_an_allocation() {
    assert_eq!(&number_bytes(0x1234)[..], &[0x12, 0x34]);
    assert_eq!(&number_bytes(0)[..], &[0, 0]);
    assert_eq!(&number_bytes(u16::MAX)[..], &[0xff, 0xff]);
}

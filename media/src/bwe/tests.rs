use super::*;
use rtc::rtcp::transport_feedbacks::transport_layer_cc::{
    PacketStatusChunk, RecvDelta, RunLengthChunk, StatusChunkTypeTcc, StatusVectorChunk,
    SymbolSizeTypeTcc, SymbolTypeTcc, TransportLayerCc,
};

/// What a feedback reports on, read the way the server read it
/// before it read the bytes itself: the rtc crate's reader, then the
/// chunks expanded. The reader of the bytes must agree with it.
fn expanded(sent: &Sent, fb: &TransportLayerCc) -> Vec<Observation> {
    let mut statuses = Vec::with_capacity(usize::from(fb.packet_status_count));
    for chunk in &fb.packet_chunks {
        match chunk {
            PacketStatusChunk::RunLengthChunk(c) => {
                statuses.extend(std::iter::repeat_n(
                    c.packet_status_symbol,
                    usize::from(c.run_length),
                ));
            }
            PacketStatusChunk::StatusVectorChunk(c) => {
                statuses.extend(c.symbol_list.iter().copied());
            }
        }
    }
    statuses.truncate(usize::from(fb.packet_status_count));
    let mut deltas = fb.recv_deltas.iter();
    let mut at = i64::from(fb.reference_time) * 64_000;
    let mut out = Vec::with_capacity(statuses.len());
    for (i, status) in statuses.into_iter().enumerate() {
        let seq = fb.base_sequence_number.wrapping_add(i as u16);
        let arrival_us = match status {
            SymbolTypeTcc::PacketReceivedSmallDelta | SymbolTypeTcc::PacketReceivedLargeDelta => {
                let Some(d) = deltas.next() else { break };
                at += d.delta;
                Some(at)
            }
            SymbolTypeTcc::PacketNotReceived => None,
            SymbolTypeTcc::PacketReceivedWithoutDelta => continue,
        };
        out.extend(sent.observation(seq, arrival_us));
    }
    out
}

/// What `sent` makes of `fb` once it is marshalled as a client would
/// send it; checked against the rtc crate's reading of the same bytes.
fn read(sent: &Sent, fb: &TransportLayerCc) -> Vec<Observation> {
    use rtc::shared::marshal::{Marshal, Unmarshal};
    let bytes = fb.marshal().unwrap();
    assert!(is_feedback(&bytes));
    let mut out = Vec::new();
    sent.read_feedback(&bytes, &mut out);
    let theirs = TransportLayerCc::unmarshal(&mut bytes.clone()).unwrap();
    assert_eq!(out, expanded(sent, &theirs), "{fb:?}");
    out
}

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
    let seen = read(&sent, &fb);
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
    assert!(read(&sent, &stranger).is_empty());
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

#[test]
fn a_number_put_in_a_lent_vector_marshals_as_set_extension_makes_it() {
    use rtc::shared::marshal::Marshal;
    let plain = || rtc::rtp::Packet {
        header: rtc::rtp::header::Header {
            version: 2,
            payload_type: 96,
            sequence_number: 7,
            timestamp: 9000,
            ssrc: 42,
            ..Default::default()
        },
        payload: bytes::Bytes::from_static(&[1, 2, 3, 4, 5]),
    };
    let mut usual = plain();
    usual
        .header
        .set_extension(TWCC_ID, number_bytes(0x0102))
        .unwrap();
    let mut spare = Vec::with_capacity(1);
    let mut lent = plain();
    put_number(&mut lent.header, 0x0102, &mut spare);
    assert_eq!(lent.marshal().unwrap(), usual.marshal().unwrap());
    assert_eq!(spare.capacity(), 0, "the vector went to the copy");
    // A header that has extensions already gets the number beside them.
    let mut other = plain();
    other.header.set_extension(1, number_bytes(5)).unwrap();
    let mut spare = Vec::new();
    put_number(&mut other.header, 0x0304, &mut spare);
    assert_eq!(other.header.get_extension(1).as_deref(), Some(&[0, 5][..]));
    assert_eq!(
        other.header.get_extension(TWCC_ID).as_deref(),
        Some(&[3, 4][..])
    );
}

#[test]
fn feedback_of_every_shape_reads_as_the_rtc_crate_reads_it() {
    let t0 = Instant::now();
    let mut sent = Sent::default();
    for i in 0..3000u64 {
        sent.stamp(
            t0 + Duration::from_micros(i * 700),
            200 + (i % 900) as usize,
        );
    }
    let mut state = 0x9e37_79b9_u32;
    let mut next = move |n: u32| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state % n
    };
    for round in 0..400 {
        let count = 1 + next(300) as u16;
        // Statuses in runs, so that run-length chunks have something to
        // hold; large deltas now and then, negative ones among them.
        let mut statuses = Vec::new();
        while statuses.len() < usize::from(count) {
            let symbol = match next(10) {
                0..=5 => SymbolTypeTcc::PacketReceivedSmallDelta,
                6..=7 => SymbolTypeTcc::PacketNotReceived,
                _ => SymbolTypeTcc::PacketReceivedLargeDelta,
            };
            let longest = if next(4) == 0 { 40 } else { 3 };
            let run = 1 + next(longest) as usize;
            statuses.extend(std::iter::repeat_n(symbol, run));
        }
        statuses.truncate(usize::from(count));
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < statuses.len() {
            let rest = &statuses[at..];
            let run = rest.iter().take_while(|s| **s == rest[0]).count();
            let one_bit = rest
                .iter()
                .take(14)
                .all(|s| *s != SymbolTypeTcc::PacketReceivedLargeDelta);
            if run >= 7 || next(3) == 0 {
                chunks.push(PacketStatusChunk::RunLengthChunk(RunLengthChunk {
                    type_tcc: StatusChunkTypeTcc::RunLengthChunk,
                    packet_status_symbol: rest[0],
                    run_length: run as u16,
                }));
                at += run;
            } else {
                let (size, n) = if one_bit && next(2) == 0 {
                    (SymbolSizeTypeTcc::OneBit, 14)
                } else {
                    (SymbolSizeTypeTcc::TwoBit, 7)
                };
                let mut symbol_list: Vec<_> = rest.iter().take(n).copied().collect();
                symbol_list.resize(n, SymbolTypeTcc::PacketNotReceived);
                chunks.push(PacketStatusChunk::StatusVectorChunk(StatusVectorChunk {
                    type_tcc: StatusChunkTypeTcc::StatusVectorChunk,
                    symbol_size: size,
                    symbol_list,
                }));
                at += n;
            }
        }
        let recv_deltas = statuses
            .iter()
            .filter(|s| **s != SymbolTypeTcc::PacketNotReceived)
            .map(|s| RecvDelta {
                type_tcc_packet: *s,
                delta: if *s == SymbolTypeTcc::PacketReceivedSmallDelta {
                    i64::from(next(256)) * 250
                } else {
                    (i64::from(next(65_536)) - 32_768) * 250
                },
            })
            .collect();
        let fb = TransportLayerCc {
            sender_ssrc: 1,
            media_ssrc: 2,
            base_sequence_number: next(3000) as u16,
            packet_status_count: count,
            reference_time: next(1 << 24),
            fb_pkt_count: round as u8,
            packet_chunks: chunks,
            recv_deltas,
        };
        read(&sent, &fb);
    }
}

#[test]
fn a_feedback_cut_short_gives_what_it_fully_reports_and_nothing_else() {
    use rtc::shared::marshal::Marshal;
    let t0 = Instant::now();
    let mut sent = Sent::default();
    for i in 0..10u64 {
        sent.stamp(t0 + Duration::from_millis(i), 1000);
    }
    let fb = TransportLayerCc {
        base_sequence_number: 0,
        packet_status_count: 10,
        reference_time: 1,
        packet_chunks: vec![PacketStatusChunk::RunLengthChunk(RunLengthChunk {
            type_tcc: StatusChunkTypeTcc::RunLengthChunk,
            packet_status_symbol: SymbolTypeTcc::PacketReceivedSmallDelta,
            run_length: 10,
        })],
        recv_deltas: (0..10)
            .map(|_| RecvDelta {
                type_tcc_packet: SymbolTypeTcc::PacketReceivedSmallDelta,
                delta: 1000,
            })
            .collect(),
        ..Default::default()
    };
    let bytes = fb.marshal().unwrap();
    let mut out = Vec::new();
    // Header, chunk and four of the ten deltas.
    sent.read_feedback(&bytes[..26], &mut out);
    assert_eq!(out.len(), 4);
    for len in 0..22 {
        out.clear();
        sent.read_feedback(&bytes[..len], &mut out);
        assert!(out.is_empty(), "{len} bytes");
    }
}

#[test]
fn the_slope_is_the_least_squares_line_through_the_points() {
    let line = |a: f64, b: f64, x0: f64| -> VecDeque<(f64, f64)> {
        (0..20)
            .map(|i| {
                let x = x0 + f64::from(i) * 7.5;
                // Noise that sums to nothing about the line.
                let noise = if i % 2 == 0 { 0.25 } else { -0.25 };
                (x, a * x + b + noise)
            })
            .collect()
    };
    for (a, b, x0) in [(0.5, 3.0, 0.0), (-0.02, 1e4, 4.0e9), (0.0, -7.0, 1e6)] {
        let got = slope(&line(a, b, x0)).unwrap();
        assert!((got - a).abs() < 1e-3, "{got} for {a}");
    }
    let flat: VecDeque<(f64, f64)> = std::iter::repeat_n((5.0, 1.0), 20).collect();
    assert_eq!(slope(&flat), None, "no spread in x: no slope");
}

#[test]
fn a_number_sent_again_tells_nothing_of_the_link() {
    let mut sent = Sent::default();
    let t = Instant::now();
    let a = sent.stamp(t, 1_000);
    let b = sent.stamp(t, 1_000);
    sent.forget(a);
    assert_eq!(sent.observation(a, Some(5)), None, "either sending's");
    assert!(sent.observation(b, Some(5)).is_some());
    // A number the ring has since reused is not the one forgotten.
    let mut later = Sent::default();
    let first = later.stamp(t, 1_000);
    for _ in 0..RING {
        later.stamp(t, 1_000);
    }
    later.forget(first);
    let reused = first.wrapping_add(RING as u16);
    assert!(later.observation(reused, Some(5)).is_some());
}

use super::*;
use std::time::UNIX_EPOCH;

fn block(ssrc: u32, seq: u32, total_lost: u32, lsr: u32, delay: u32) -> ReceptionReport {
    ReceptionReport {
        ssrc,
        last_sequence_number: seq,
        total_lost,
        last_sender_report: lsr,
        delay,
        ..Default::default()
    }
}

fn middle(wall: SystemTime) -> u32 {
    (crate::leg::reports::ntp(wall) >> 16) as u32
}

#[test]
fn the_round_trip_is_now_less_our_report_less_the_clients_hold() {
    let sent = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let now = sent + Duration::from_millis(250);
    // The client held it 150 ms: 100 ms on the wire, both ways.
    let rtt = round_trip(now, middle(sent), 150 * 65_536 / 1000).unwrap();
    assert!(
        rtt.abs_diff(Duration::from_millis(100)) < Duration::from_millis(1),
        "{rtt:?}"
    );
    assert_eq!(round_trip(now, 0, 0), None, "no sender report heard yet");
    // A report that claims to have been held longer than it exists.
    assert_eq!(round_trip(now, middle(sent), 300 * 65_536 / 1000), None);
}

#[test]
fn arrivals_count_the_gaps_in_a_publishers_numbers_across_the_wrap() {
    let mut a = Arrivals::default();
    // From 65,500 on, every tenth packet missing; the numbers wrap.
    for i in 0..100u16 {
        if i % 10 != 9 {
            a.heard(65_500u16.wrapping_add(i));
        }
    }
    a.tick();
    let loss = a.loss().unwrap();
    assert!((loss - 0.10).abs() < 0.011, "{loss}");
    // Too few packets since: the window says nothing.
    a.heard(65_500u16.wrapping_add(100));
    a.tick();
    assert_eq!(a.loss(), Some(loss));
    // A window with nothing lost, and a late packet from before it, halve
    // the figure.
    for i in 101..200u16 {
        a.heard(65_500u16.wrapping_add(i));
    }
    a.heard(65_500u16.wrapping_add(9));
    a.tick();
    assert!(a.loss().unwrap() < loss / 2.0 + 0.001, "{:?}", a.loss());
}

#[test]
fn a_subscribers_loss_is_its_own_hop_and_its_worst_stream() {
    let counters = Counters::default();
    let sent = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let at = sent + Duration::from_millis(40);
    let ours = |s: u32| s == 7 || s == 8;
    let none = |_| 0.0;
    let mut r = Reception::default();
    assert_eq!(r.loss(none), None, "nothing heard: no figure");

    // Audio (7) loses 5 of 100, video (8) 1 of 200 (NACKs repaired the
    // rest: the cumulative count falls as repairs come).
    r.heard(&[block(7, 1000, 10, middle(sent), 0)], at, ours, &counters);
    r.heard(
        &[block(8, 5000, 40, 0, 0), block(99, 1, 255, 0, 0)],
        at,
        ours,
        &counters,
    );
    r.heard(&[block(8, 5010, 44, 0, 0)], at, ours, &counters);
    assert_eq!(r.loss(none), None, "ten packets say nothing yet");
    r.heard(&[block(8, 5100, 44, 0, 0)], at, ours, &counters);
    assert!((r.loss(none).unwrap() - 0.04).abs() < 1e-9, "4 of 100");
    // Three repaired in the next window: none lost in it, the figure
    // halves.
    r.heard(&[block(8, 5200, 41, 0, 0)], at, ours, &counters);
    assert!((r.loss(none).unwrap() - 0.02).abs() < 1e-9);
    r.heard(&[block(8, 5300, 41, 0, 0)], at, ours, &counters);
    let video = r.loss(none).unwrap();
    r.heard(&[block(7, 1100, 15, 0, 0)], at, ours, &counters);
    let loss = r.loss(none).unwrap();
    assert!((loss - 0.05).abs() < 0.001, "the worst stream: {loss}");
    assert_eq!(level(loss, r.rtt()), Level::Fair);
    assert!(r.rtt().unwrap().abs_diff(Duration::from_millis(40)) < Duration::from_millis(1));
    assert_eq!(counters.reports_rtt_low.load(Ordering::Relaxed), 1);
    assert_eq!(
        counters.reports_loss_low.load(Ordering::Relaxed),
        7,
        "the stranger's block is not counted"
    );

    // The same loss, all of it the publisher's on the way in: this hop is
    // fine.
    assert_eq!(
        r.loss(|ssrc| if ssrc == 7 { 0.05 } else { 0.0 }),
        Some(video)
    );

    // A fifth lost, window after window: poor.
    for w in 0..4 {
        r.heard(
            &[block(7, 1200 + w * 100, 35 + w * 20, 0, 0)],
            at,
            ours,
            &counters,
        );
    }
    assert_eq!(level(r.loss(none).unwrap(), r.rtt()), Level::Poor);

    // A long round trip alone makes it poor too.
    let mut far = Reception::default();
    let late = sent + Duration::from_millis(700);
    far.heard(&[block(7, 1, 0, middle(sent), 0)], late, ours, &counters);
    assert_eq!(level(far.loss(none).unwrap_or(0.0), far.rtt()), Level::Poor);
    assert_eq!(counters.reports_rtt_high.load(Ordering::Relaxed), 1);
}

#[test]
fn each_room_adds_its_subscriptions_and_takes_them_back_when_it_ends() {
    let counters = std::sync::Arc::new(Counters::default());
    let total = |c: &Counters| {
        c.subscriptions
            .iter()
            .map(|x| x.load(Ordering::Relaxed))
            .collect::<Vec<_>>()
    };
    let mut a = LayerTally::new(counters.clone());
    let mut b = LayerTally::new(counters.clone());
    a.set([1, 0, 2, 0, 3, 0]);
    b.set([0, 1, 0, 0, 1, 4]);
    assert_eq!(total(&counters), [1, 1, 2, 0, 4, 4]);
    a.set([0, 0, 0, 0, 6, 0]);
    assert_eq!(total(&counters), [0, 1, 0, 0, 7, 4]);
    drop(b);
    assert_eq!(total(&counters), [0, 0, 0, 0, 6, 0]);
    drop(a);
    assert_eq!(total(&counters), [0; 6]);
}

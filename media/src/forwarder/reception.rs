//! How well media reaches each participant and comes from each, told to
//! the room for its moderators every [`TICK`] (the figures: quality.rs).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use conclave_actors::media::{MediaEvent, Reception};
use conclave_actors::ParticipantId;

use super::Forwarder;
use crate::published::{Published, TrackKey};

/// Clients report about once a second, and an indicator need not move
/// faster.
pub(super) const TICK: Duration = Duration::from_secs(2);
/// A layer not heard for this long is not counted in its publisher's loss.
const FRESH: Duration = Duration::from_secs(4);

impl Forwarder {
    /// Ends a window of the publishers' loss counts and tells the room how
    /// well media reaches and comes from each participant, for those with
    /// figures.
    pub(super) fn tell_reception(&mut self) {
        let now = Instant::now();
        for t in &mut self.tracks {
            for l in &mut t.layers {
                l.arrivals.tick();
            }
        }
        // Sending: the worst of what each publisher's layers lost on the
        // way in, of the layers it still sends.
        let mut sent: HashMap<ParticipantId, f64> = HashMap::new();
        for t in &self.tracks {
            for l in &t.layers {
                let recent = l.heard.is_some_and(|h| now.duration_since(h) < FRESH);
                if let (true, Some(loss)) = (recent, l.arrivals.loss()) {
                    let w = sent.entry(t.key.publisher).or_insert(0.0);
                    *w = w.max(loss);
                }
            }
        }
        let tracks = &self.tracks;
        let mut received: HashMap<ParticipantId, (f64, Option<Duration>, Option<u64>)> =
            HashMap::new();
        for c in self.conns.values_mut() {
            let member = c.member;
            let Some(s) = c.sub() else { continue };
            let by_ssrc = &s.by_ssrc;
            let upstream = |ssrc| upstream(tracks, by_ssrc, member, ssrc);
            if let Some(loss) = s.reception.loss(upstream) {
                received.insert(
                    member,
                    (loss, s.reception.rtt(), s.estimate.map(|(b, _)| b)),
                );
            }
        }
        let mut all: Vec<ParticipantId> = sent.keys().chain(received.keys()).copied().collect();
        all.sort_unstable();
        all.dedup();
        let told: Vec<Reception> = all
            .into_iter()
            .map(|who| {
                let (receive, rtt, estimate) =
                    received.get(&who).copied().unwrap_or((0.0, None, None));
                let send = sent.get(&who).copied();
                let permille = |x: f64| (x * 1000.0).round() as u32;
                Reception {
                    participant: who,
                    level: crate::quality::level(receive.max(send.unwrap_or(0.0)), rtt),
                    receive_loss_permille: received.contains_key(&who).then(|| permille(receive)),
                    send_loss_permille: send.map(permille),
                    rtt_ms: rtt.map(|d| d.as_millis().min(u128::from(u32::MAX)) as u32),
                    estimate_bps: estimate,
                }
            })
            .collect();
        if !told.is_empty() {
            self.emit(MediaEvent::Reception(told));
        }
        self.count_layers();
    }

    /// This room's video subscriptions by what each is sent
    /// (`LAYER_STATES`), into `/metrics`.
    fn count_layers(&mut self) {
        let mut counts = [0i64; 6];
        for t in self.tracks.iter().filter(|t| !t.source.is_audio()) {
            // The layers from smallest to largest: heights not yet known
            // sort first.
            let mut by_height: Vec<usize> = (0..t.layers.len()).collect();
            by_height.sort_by_key(|&l| t.layers[l].height);
            for s in &t.subscribers {
                let state = if s.watch.hidden() {
                    0
                } else if t.layers.len() == 1 {
                    5
                } else {
                    match s
                        .watch
                        .target()
                        .and_then(|l| by_height.iter().position(|&x| x == l))
                    {
                        None => 1,
                        Some(0) => 2,
                        Some(r) if r + 1 == by_height.len() => 4,
                        Some(_) => 3,
                    }
                };
                counts[state] += 1;
            }
        }
        self.layers.set(counts);
    }
}

/// What the publisher of the stream `ssrc` on `member`'s subscribe
/// connection lost on the way in, of the layer `member` is sent.
fn upstream(
    tracks: &[Published],
    by_ssrc: &HashMap<u32, TrackKey>,
    member: ParticipantId,
    ssrc: u32,
) -> f64 {
    let Some(t) = by_ssrc
        .get(&ssrc)
        .and_then(|k| tracks.iter().find(|t| t.key == *k))
    else {
        return 0.0;
    };
    let layer = t
        .subscribers
        .iter()
        .find(|s| s.member == member)
        .and_then(|s| s.watch.current())
        .unwrap_or(0);
    t.layers
        .get(layer)
        .and_then(|l| l.arrivals.loss())
        .unwrap_or(0.0)
}

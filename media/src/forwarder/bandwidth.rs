//! Each subscriber's share of its link (docs/media.md "Bandwidth"):
//! every 300 ms its estimate is divided among its videos
//! (crate::allocate), and while some video is held below what its tile
//! takes the link is probed for more now and then (crate::probing).
//! Only with `media.adapt_to_bandwidth` (on by default).

use std::time::{Duration, Instant};

use conclave_actors::media::TrackSource;
use conclave_actors::ParticipantId;

use super::simulcast::{choose, SILENT};
use super::Forwarder;
use crate::allocate::{allocate, Want};
use crate::probing::PROBE_FOR;

/// Estimates below this are taken as this: a client's estimator starts
/// about here and grows with what it receives, so a lower one early on
/// would pause videos that would have fitted, and keep them paused.
const ESTIMATE_FLOOR: u64 = 250_000;

/// A move up needs this share of the budget to fit in, a move down is
/// made as soon as the budget is exceeded: the band between keeps a
/// subscriber from going up and down as the layers' rates wobble.
const UP_MARGIN: f64 = 0.85;

/// What an audio track is taken to cost a subscriber, in bit/s (Opus at
/// the browsers' 32 kbit/s, and its RTP headers).
const AUDIO_BPS: u64 = 40_000;

/// Of a subscriber's estimate, what is spent: the rest is headroom for
/// the estimate's error and for retransmissions.
const HEADROOM: f64 = 0.9;

/// The smallest layers are kept up to this multiple of the estimate: a
/// client's estimate falls below what its link carries after congestion
/// (REMB hovers under the link's rate), and a paused video is a frozen
/// picture where a small one would do.
const KEEP: f64 = 1.3;

/// With the server's own estimate, a probe pads up to what every video
/// at its tile's layer would need, but at most the probe's step
/// (crate::probing, 1.2 to 2 times the estimate, learnt from the probes
/// before) and at least a quarter over the estimate (or the step, if
/// less): a link that cannot carry it shows a queue in well under the
/// probe's time.
const PROBE_LEAST: f64 = 1.25;
/// What a probe asks past the need, for the estimate it leaves (what
/// arrived, a little under what was sent) to still cover it.
const PROBE_SPARE: f64 = 1.1;

/// With the client's estimate (no padding to probe with), a probe
/// allocates this multiple of the estimate: the larger layers are the
/// probe.
const REMB_PROBE: f64 = 1.5;

/// Where the layers a video may have rank `layer` (`None`, paused, below
/// them all).
fn rank(w: &Want, layer: Option<usize>) -> Option<usize> {
    layer.and_then(|l| w.layers.iter().position(|(x, _)| *x == l))
}

/// The layer a video keeps: `down` if that is lower than before (the
/// budget is exceeded), `up` if that is higher (it fits with a margin),
/// else what it had.
fn steady(
    w: &Want,
    before: Option<Option<usize>>,
    down: Option<usize>,
    up: Option<usize>,
) -> Option<usize> {
    let Some(before) = before.filter(|b| b.is_none() || rank(w, *b).is_some()) else {
        return down;
    };
    if rank(w, down) < rank(w, before) {
        down
    } else if rank(w, up) > rank(w, before) {
        up
    } else {
        before
    }
}

/// The estimate a subscriber needs for every video to get the layer its
/// tile takes (`videos` bit/s of them) with `audio` bit/s of audio.
fn needed(videos: u64, audio: u64) -> u64 {
    ((videos as f64 / UP_MARGIN + audio as f64) / HEADROOM) as u64
}

impl Forwarder {
    /// Divides each subscriber's estimate among its videos: sets what each
    /// subscription is allowed, and chooses again where that changed. A
    /// subscriber whose client gives no estimate is not limited.
    pub(super) fn allocate_all(&mut self) {
        if !self.shared.config.adapt_to_bandwidth {
            return;
        }
        let now = Instant::now();
        let mut changed = vec![false; self.tracks.len()];
        let members: Vec<_> = self.members.keys().copied().collect();
        for member in members {
            let (videos, audio) = self.wants_of(member, now);
            let allowed = match self.estimate_of(member) {
                Some(bps) => self.divide(member, bps, &videos, audio, now),
                None => vec![None; videos.len()],
            };
            for ((i, _), allowed) in videos.into_iter().zip(allowed) {
                if let Some(sub) = self.tracks[i]
                    .subscribers
                    .iter_mut()
                    .find(|s| s.member == member)
                {
                    if sub.allowed != allowed {
                        tracing::debug!(conference = %self.conference, member = %member, ?allowed, "allocation");
                        sub.allowed = allowed;
                        changed[i] = true;
                    }
                }
            }
        }
        for (i, changed) in changed.into_iter().enumerate() {
            if changed {
                self.retarget(i);
            }
        }
    }

    /// A subscriber's estimate, where its client or the server has one.
    fn estimate_of(&mut self, member: ParticipantId) -> Option<u64> {
        self.members
            .get(&member)
            .and_then(|m| m.subscribe)
            .and_then(|id| self.conns.get_mut(&id))
            .and_then(|c| c.sub())
            .and_then(|s| s.estimate)
            .map(|(bps, _)| bps.max(ESTIMATE_FLOOR))
    }

    /// A subscriber's shown videos, as (track, want) in the tracks'
    /// order, and what its audio takes.
    fn wants_of(&self, member: ParticipantId, now: Instant) -> (Vec<(usize, Want)>, u64) {
        let speaker = self.speakers.heard_by(member);
        let mut videos = Vec::new();
        let mut audio = 0u64;
        for (i, t) in self.tracks.iter().enumerate() {
            let Some(sub) = t.subscribers.iter().find(|s| s.member == member) else {
                continue;
            };
            if t.source.is_audio() {
                audio += AUDIO_BPS;
                continue;
            }
            if sub.watch.hidden() {
                continue;
            }
            let top = choose(&t.layers, sub.want_height, now);
            let one = t.layers.len() == 1;
            let mut layers: Vec<(usize, u16, u64)> = (0..t.layers.len())
                .filter(|&l| {
                    one || t.layers[l]
                        .heard
                        .is_some_and(|at| now.saturating_duration_since(at) < SILENT)
                })
                .map(|l| (l, t.layers[l].height.unwrap_or(0), t.layers[l].rate.bps()))
                .collect();
            layers.sort_by_key(|&(_, h, _)| h);
            let top_height = top.and_then(|l| t.layers[l].height).unwrap_or(u16::MAX);
            layers.retain(|&(_, h, _)| h <= top_height);
            let priority = match (t.source, speaker) {
                (TrackSource::Screen, _) => 0,
                (_, Some(who)) if who == t.key.publisher => 1,
                _ => 2,
            };
            videos.push((
                i,
                Want {
                    priority,
                    layers: layers.into_iter().map(|(l, _, bps)| (l, bps)).collect(),
                    has: sub.allowed.unwrap_or_else(|| sub.watch.current()),
                },
            ));
        }
        (videos, audio)
    }

    /// The layer each of a subscriber's `videos` may have within its
    /// estimate `bps`; probes its link while some video is held.
    fn divide(
        &mut self,
        member: ParticipantId,
        bps: u64,
        videos: &[(usize, Want)],
        audio: u64,
        now: Instant,
    ) -> Vec<Option<Option<usize>>> {
        let wants: Vec<Want> = videos.iter().map(|(_, w)| w.clone()).collect();
        let budget = |factor: f64| ((bps as f64 * HEADROOM * factor) as u64).saturating_sub(audio);
        let keep = ((bps as f64 * KEEP) as u64).saturating_sub(audio);
        let down = allocate(keep, budget(1.0), &wants);
        let up = allocate(keep, (budget(1.0) as f64 * UP_MARGIN) as u64, &wants);
        let mut chosen: Vec<Option<usize>> = videos
            .iter()
            .zip(down.iter().zip(&up))
            .map(|((i, w), (&down, &up))| {
                let before = self.tracks[*i]
                    .subscribers
                    .iter()
                    .find(|s| s.member == member)
                    .and_then(|s| s.allowed);
                steady(w, before, down, up)
            })
            .collect();
        // Held: some video below the largest layer its tile takes.
        let held = wants
            .iter()
            .zip(&chosen)
            .any(|(w, c)| w.layers.last().map(|(l, _)| *l) != *c);
        let full: u64 = wants
            .iter()
            .filter_map(|w| w.layers.last().map(|(_, b)| *b))
            .sum();
        tracing::trace!(member = %member, estimate = bps, held, ?chosen, ?wants, "round");
        if self.probe(member, bps, held, needed(full, audio), now) {
            let more = budget(REMB_PROBE);
            chosen = allocate(keep.max(more), more, &wants);
        }
        chosen.into_iter().map(Some).collect()
    }

    /// Starts, runs or ends a probe of a subscriber's link; whether the
    /// allocation is to be made with more than the estimate now (with the
    /// client's estimate, where there is no padding to probe with).
    fn probe(
        &mut self,
        member: ParticipantId,
        bps: u64,
        held: bool,
        need: u64,
        now: Instant,
    ) -> bool {
        let Some(id) = self.members.get(&member).and_then(|m| m.subscribe) else {
            return false;
        };
        let Some(s) = self.conns.get_mut(&id).and_then(|c| c.sub()) else {
            return false;
        };
        let overuse = s.bwe.as_ref().and_then(|b| b.last_overuse());
        tracing::trace!(member = %member, acked = s.bwe.as_ref().and_then(|b| b.acked_bps()), overuse_ago = ?overuse.map(|o| now.saturating_duration_since(o)), rtt = ?s.reception.rtt(), "link");
        let was = s.probe.running();
        let running = s.probe.tick(now, bps, held, overuse);
        let Some(bwe) = s.bwe.as_mut() else {
            return running;
        };
        // With the server's own estimate a probe is padding: the layers
        // stay until the link proved it has room.
        if running && !was {
            let sending = bwe.acked_bps().unwrap_or(0);
            let step = s.probe.step();
            let target = ((need as f64 * PROBE_SPARE) as u64).clamp(
                (bps as f64 * PROBE_LEAST.min(step)) as u64,
                (bps as f64 * step) as u64,
            );
            // Past what is sent by as much as the target is past the
            // estimate, where more than the estimate is sent already
            // (the smallest layers are kept past it).
            s.leg
                .pad(now, target.saturating_sub(sending.min(bps)), PROBE_FOR);
            tracing::debug!(member = %member, estimate = bps, sending, target, step, "probe");
        } else if !running && was {
            s.leg.pad(now, 0, Duration::ZERO);
            tracing::debug!(member = %member, estimate = bps, acked = bwe.acked_bps(), "probe ends");
        }
        if s.probe.proven() {
            // What arrived while probing, media and padding, the link
            // carried.
            if let Some(acked) = bwe.acked_bps() {
                bwe.proven(acked);
                s.estimate = Some((bwe.estimate(), now));
                tracing::debug!(member = %member, acked, "probe carried");
            }
        }
        // Its timer, for the padding.
        self.touch(id);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_is_left_at_once_for_a_smaller_and_for_a_larger_only_with_room() {
        let w = Want {
            priority: 2,
            layers: vec![(0, 100), (1, 300), (2, 900)],
            has: None,
        };
        // Nothing before: what fits.
        assert_eq!(steady(&w, None, Some(1), Some(0)), Some(1));
        // Down at once; up only when it fits with the margin too.
        assert_eq!(steady(&w, Some(Some(2)), Some(1), Some(1)), Some(1));
        assert_eq!(steady(&w, Some(Some(1)), Some(2), Some(1)), Some(1));
        assert_eq!(steady(&w, Some(Some(1)), Some(2), Some(2)), Some(2));
        assert_eq!(
            steady(&w, Some(None), Some(0), None),
            None,
            "paused stays paused in the band"
        );
        assert_eq!(steady(&w, Some(Some(0)), None, None), None);
        // A layer it had that went away: what fits.
        assert_eq!(steady(&w, Some(Some(7)), Some(1), Some(0)), Some(1));
    }

    #[test]
    fn what_every_video_at_its_tiles_layer_needs() {
        // Two 400 kbit/s layers and two audio tracks: past the margin and
        // the headroom.
        let need = needed(800_000, 80_000);
        let budget = ((need as f64 * HEADROOM) as u64 - 80_000) as f64 * UP_MARGIN;
        assert!(budget >= 799_000.0, "{budget}");
        assert!(need < 1_200_000, "{need}");
    }
}

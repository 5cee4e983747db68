//! Simulcast and bandwidth (docs/media.md "Simulcast", "Bandwidth"): a
//! publisher may send a video track as up to three layers, each its own
//! stream; each subscriber gets one of them, the one that fits its tile
//! and, where its client says what it can receive, its share of that
//! (crate::allocate); the recording gets the largest. Which one is
//! decided here; [`crate::watch::Watch`] does the move between layers at
//! a keyframe, without a gap.

use std::time::{Duration, Instant};

use super::Forwarder;
use crate::allocate::{allocate, Want, PROBE_FOR};
use crate::published::Layer;

/// Estimates below this are taken as this: a client's estimator starts
/// about here and grows with what it receives, so a lower one early on
/// would pause videos that would have fitted, and keep them paused.
const ESTIMATE_FLOOR: u64 = 250_000;

/// A move up needs this share of the budget to fit in, a move down is
/// made as soon as the budget is exceeded: the band between keeps a
/// subscriber from going up and down as the layers' rates wobble.
const UP_MARGIN: f64 = 0.85;

/// An RTP header as forwarded (no CSRC; the extension is the server's).
const RTP_HEADER: usize = 12;

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

/// With the server's own estimate, a probe pads up to this multiple of
/// it: a doubling at a time reaches a large layer from small ones in a
/// few probes, and a link that cannot carry it shows a queue in well
/// under the probe's time.
const PROBE_GROWTH: u64 = 2;

/// A layer silent this long is taken as stopped (an encoder drops its top
/// layer when the publisher's CPU or uplink cannot carry it) and is not
/// chosen; video runs at 15 frames a second or more.
const SILENT: Duration = Duration::from_millis(1500);

/// The layer for a subscriber whose tile is `want` pixels high (`None`:
/// as large as there is): the smallest at least that high, else the
/// largest. Layers whose height is not known yet (no keyframe seen) count
/// only while no layer's is; stopped ones not at all. `None` when no layer
/// is live.
pub fn choose(layers: &[Layer], want: Option<u32>, now: Instant) -> Option<usize> {
    let live: Vec<usize> = (0..layers.len())
        .filter(|&l| {
            layers[l]
                .heard
                .is_some_and(|at| now.saturating_duration_since(at) < SILENT)
        })
        .collect();
    if layers.len() == 1 {
        return Some(0);
    }
    let known: Vec<(usize, u32)> = live
        .iter()
        .filter_map(|&l| layers[l].height.map(|h| (l, u32::from(h))))
        .collect();
    if known.is_empty() {
        return live.first().copied();
    }
    let largest = known.iter().max_by_key(|(_, h)| *h).map(|(l, _)| *l);
    let Some(want) = want else {
        return largest;
    };
    known
        .iter()
        .filter(|(_, h)| *h >= want)
        .min_by_key(|(_, h)| *h)
        .map(|(l, _)| *l)
        .or(largest)
}

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

impl Forwarder {
    /// A packet of layer `l` of track `i` came: whether it starts a
    /// keyframe, and whether that keyframe changed what is known of the
    /// layer (its height), so the choices may change.
    pub(super) fn layer_heard(
        &mut self,
        i: usize,
        l: usize,
        packet: &rtc::rtp::Packet,
        now: Instant,
    ) -> (bool, bool) {
        let track = &mut self.tracks[i];
        if track.source.is_audio() {
            return (false, false);
        }
        let keyframe = crate::watch::starts_vp8_keyframe(&packet.payload);
        let Some(layer) = track.layers.get_mut(l) else {
            return (keyframe, false);
        };
        let woke = layer
            .heard
            .is_none_or(|at| now.saturating_duration_since(at) >= SILENT);
        layer.heard = Some(now);
        layer.rate.add(now, packet.payload.len() + RTP_HEADER);
        let mut resized = false;
        if keyframe {
            let height = crate::watch::vp8_keyframe_height(&packet.payload);
            if height.is_some() && height != layer.height {
                layer.height = height;
                resized = true;
            }
        }
        (keyframe, (resized || woke) && track.layers.len() > 1)
    }

    /// Chooses again the layer of track `i` each subscriber (and the
    /// recording) gets; asks for a keyframe of each layer moved to.
    pub(super) fn retarget(&mut self, i: usize) {
        let now = Instant::now();
        let track = &mut self.tracks[i];
        if track.source.is_audio() {
            return;
        }
        let mut wanted = Vec::new();
        let largest = choose(&track.layers, None, now);
        if track.recorded.set_target(largest, false) {
            wanted.extend(largest);
        }
        for sub in &mut track.subscribers {
            // The bandwidth's choice, where the subscriber's estimate is
            // known; else the tile's.
            let layer = sub
                .allowed
                .unwrap_or_else(|| choose(&track.layers, sub.want_height, now));
            let height = |l: Option<usize>| l.and_then(|l| track.layers[l].height);
            let down = height(layer) < height(sub.watch.current());
            if sub.watch.set_target(layer, down) {
                wanted.extend(layer);
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        for l in wanted {
            self.request_keyframe(i, l);
        }
    }

    /// Divides each subscriber's estimate among its videos (allocate.rs):
    /// sets what each subscription is allowed, and chooses again where
    /// that changed. A subscriber whose client gives no estimate is not
    /// limited. Experimental (`media.adapt_to_bandwidth`, off): a
    /// client's REMB stays within about half again what it receives, and
    /// without padding to probe with, a subscriber held to small layers
    /// climbs back too slowly (docs/media.md "Bandwidth").
    pub(super) fn allocate_all(&mut self) {
        if !self.shared.config.adapt_to_bandwidth {
            return;
        }
        let now = Instant::now();
        let speaker = self.speakers.current();
        let mut changed = vec![false; self.tracks.len()];
        let members: Vec<_> = self.members.keys().copied().collect();
        for member in members {
            let estimate = self
                .members
                .get(&member)
                .and_then(|m| m.subscribe)
                .and_then(|id| self.conns.get_mut(&id))
                .and_then(|c| c.sub())
                .and_then(|s| s.estimate)
                .map(|(bps, _)| bps.max(ESTIMATE_FLOOR));
            // Its videos: (track, want), in the tracks' order.
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
                    (conclave_actors::media::TrackSource::Screen, _) => 0,
                    (_, Some(who)) if who == t.key.publisher => 1,
                    _ => 2,
                };
                videos.push((
                    i,
                    Want {
                        priority,
                        layers: layers.into_iter().map(|(l, _, bps)| (l, bps)).collect(),
                    },
                ));
            }
            let allowed: Vec<Option<Option<usize>>> = match estimate {
                Some(bps) => {
                    let wants: Vec<Want> = videos.iter().map(|(_, w)| w.clone()).collect();
                    let budget = |factor: f64| {
                        ((bps as f64 * HEADROOM * factor) as u64).saturating_sub(audio)
                    };
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
                    // Held: some video below the largest layer its tile
                    // takes.
                    let held = wants
                        .iter()
                        .zip(&chosen)
                        .any(|(w, c)| w.layers.last().map(|(l, _)| *l) != *c);
                    let sub_id = self.members.get(&member).and_then(|m| m.subscribe);
                    let factor = sub_id
                        .and_then(|id| self.conns.get_mut(&id))
                        .and_then(|c| c.sub())
                        .map_or(1.0, |s| {
                            let overuse = s.bwe.as_ref().and_then(|b| b.last_overuse());
                            let was = s.probe.running();
                            let factor = s.probe.factor(now, bps, held, overuse);
                            let Some(bwe) = s.bwe.as_mut() else {
                                return factor;
                            };
                            // With the server's own estimate, a probe is
                            // padding up to twice the estimate: the layers
                            // stay until the link proved it has room.
                            if factor > 1.0 && !was {
                                let sending = bwe.acked_bps().unwrap_or(0);
                                let target = bps.saturating_mul(PROBE_GROWTH);
                                s.leg.pad(now, target.saturating_sub(sending), PROBE_FOR);
                                tracing::debug!(member = %member, estimate = bps, sending, target, "probe");
                            } else if factor <= 1.0 && was {
                                s.leg.pad(now, 0, Duration::ZERO);
                                tracing::debug!(member = %member, estimate = bps, proven = s.probe.running(), acked = bwe.acked_bps(), "probe ends");
                            }
                            if s.probe.proven() {
                                // What arrived while probing, media and
                                // padding, the link carried.
                                if let Some(acked) = bwe.acked_bps() {
                                    bwe.proven(acked);
                                    s.estimate = Some((bwe.estimate(), now));
                                }
                            }
                            1.0
                        });
                    // Its timer, for the padding.
                    if let Some(id) = sub_id.filter(|_| self.shared.config.adapt_to_bandwidth) {
                        self.touch(id);
                    }
                    if factor > 1.0 {
                        chosen = allocate(keep.max(budget(factor)), budget(factor), &wants);
                    }
                    chosen.into_iter().map(Some).collect()
                }
                None => vec![None; videos.len()],
            };
            for ((i, _), allowed) in videos.into_iter().zip(allowed) {
                if let Some(sub) = self.tracks[i]
                    .subscribers
                    .iter_mut()
                    .find(|s| s.member == member)
                {
                    if sub.allowed != allowed {
                        tracing::debug!(conference = %self.conference, member = %member, estimate, ?allowed, "allocation");
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

    /// Every simulcast track's choices, again: a layer may have stopped.
    pub(super) fn retarget_simulcast(&mut self) {
        for i in 0..self.tracks.len() {
            if self.tracks[i].layers.len() > 1 {
                self.retarget(i);
            }
        }
    }

    /// Asks for a keyframe of every layer of track `i` someone gets or
    /// waits for (a new subscriber, a fresh connection).
    pub(super) fn request_keyframes(&mut self, i: usize) {
        let track = &self.tracks[i];
        let mut layers: Vec<usize> = track
            .subscribers
            .iter()
            .filter_map(|s| s.watch.target())
            .collect();
        layers.sort_unstable();
        layers.dedup();
        for l in layers {
            self.request_keyframe(i, l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::published::{Published, TrackKey};
    use conclave_actors::media::TrackSource;

    fn track(heights: &[Option<u16>], now: Instant) -> Published {
        let mut t = Published::new(
            TrackKey {
                publisher: conclave_actors::ParticipantId::new(),
                track_id: "cam".into(),
            },
            TrackSource::Camera,
            1,
            Default::default(),
            100,
            Some("q".into()),
            std::sync::Arc::new(crate::gates::Gates::new(true)),
            None,
        );
        for (n, _) in heights.iter().enumerate().skip(1) {
            t.add_layer(Some(format!("l{n}")), 100 + n as u32);
        }
        for (layer, h) in t.layers.iter_mut().zip(heights) {
            layer.height = *h;
            layer.heard = Some(now);
        }
        t
    }

    #[test]
    fn the_smallest_layer_that_fills_the_tile_else_the_largest() {
        let now = Instant::now();
        // Arrived in another order than their sizes.
        let t = track(&[Some(360), Some(180), Some(720)], now);
        assert_eq!(choose(&t.layers, None, now), Some(2));
        assert_eq!(choose(&t.layers, Some(100), now), Some(1));
        assert_eq!(choose(&t.layers, Some(181), now), Some(0));
        assert_eq!(choose(&t.layers, Some(360), now), Some(0));
        assert_eq!(choose(&t.layers, Some(2000), now), Some(2));
    }

    #[test]
    fn a_layer_is_left_at_once_for_a_smaller_and_for_a_larger_only_with_room() {
        let w = Want {
            priority: 2,
            layers: vec![(0, 100), (1, 300), (2, 900)],
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
    fn stopped_and_unknown_layers_are_passed_over() {
        let now = Instant::now();
        let mut t = track(&[Some(180), None, Some(720)], now);
        assert_eq!(
            choose(&t.layers, None, now),
            Some(2),
            "size unknown: not chosen"
        );
        t.layers[2].heard = Some(now - Duration::from_secs(2));
        assert_eq!(
            choose(&t.layers, None, now),
            Some(0),
            "the top layer stopped"
        );
        let fresh = track(&[None, None], now);
        assert_eq!(
            choose(&fresh.layers, None, now),
            Some(0),
            "nothing known: the first"
        );
        let mut silent = track(&[Some(180), Some(360)], now);
        for l in &mut silent.layers {
            l.heard = None;
        }
        assert_eq!(choose(&silent.layers, None, now), None);
        let one = track(&[None], now);
        assert_eq!(
            choose(&one.layers, Some(10), now),
            Some(0),
            "one layer is always it"
        );
    }
}

//! Simulcast and bandwidth (docs/media.md "Simulcast", "Bandwidth"): a
//! publisher may send a video track as up to three layers, each its own
//! stream; each subscriber gets one of them, the one that fits its tile
//! and, where its client says what it can receive, its share of that
//! (crate::allocate); the recording gets the largest. Which one is
//! decided here; [`crate::watch::Watch`] does the move between layers at
//! a keyframe, without a gap.

use std::time::{Duration, Instant};

use super::Forwarder;
use crate::published::Layer;

/// An RTP header as forwarded (no CSRC; the extension is the server's).
const RTP_HEADER: usize = 12;

/// A layer silent this long is taken as stopped (an encoder drops its top
/// layer when the publisher's CPU or uplink cannot carry it) and is not
/// chosen; video runs at 15 frames a second or more.
pub(super) const SILENT: Duration = Duration::from_millis(1500);

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
        let keyframe = crate::vp8::starts_keyframe(&packet.payload);
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
            let height = crate::vp8::keyframe_height(&packet.payload);
            if height.is_some() && height != layer.height {
                tracing::debug!(track = i, layer = l, ?height, "layer height");
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
                tracing::debug!(conference = %self.conference, member = %sub.member, track = i, ?layer, down, "target");
                wanted.extend(layer);
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        for l in wanted {
            self.request_keyframe(i, l);
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

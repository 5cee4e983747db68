//! What a client sends back over a leg: compound RTCP, whose
//! transport-wide feedback the leg reads itself and whose rest goes to the
//! rtc crate's reader.

use bytes::BytesMut;

use super::Event;

/// Reads the transport-wide feedback of a compound RTCP packet itself
/// (crate::bwe's reader: the rtc crate's built objects for every one,
/// ten or more a second per subscriber). `None` when there was none;
/// else what else the compound packet held, for the rtc crate's reader.
pub(super) fn split_transport(
    plain: &[u8],
    twcc: &crate::bwe::Sent,
    events: &mut Vec<Event>,
) -> Option<BytesMut> {
    if !rtcp_packets(plain).any(crate::bwe::is_feedback) {
        return None;
    }
    let mut observed = Vec::new();
    let mut others = BytesMut::new();
    for packet in rtcp_packets(plain) {
        if crate::bwe::is_feedback(packet) {
            twcc.read_feedback(packet, &mut observed);
        } else {
            others.extend_from_slice(packet);
        }
    }
    if !observed.is_empty() {
        events.push(Event::Transport(observed));
    }
    Some(others)
}

/// The packets of a compound RTCP packet, each with its header, by the
/// length each header gives (the last cut at the end of the bytes).
pub(super) fn rtcp_packets(compound: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = compound;
    std::iter::from_fn(move || {
        let words = usize::from(u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]));
        let (packet, after) = rest.split_at((4 * (words + 1)).min(rest.len()));
        rest = after;
        Some(packet)
    })
}

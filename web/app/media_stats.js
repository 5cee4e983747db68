// What the page's connections receive and send, read from their WebRTC
// statistics: for diagnostics (window.conclave) and the browser tests.

/**
 * What each connection receives, per SSRC.
 * @param {Record<string, RTCPeerConnection>} pcs
 */
export async function received(pcs) {
  /** @type {{pc: string, kind: string, track: string, ssrc: number, packets: number, lost: number, nacks: number, plis: number, frames: number, height: number, freezes: number, samples: number, concealed: number, played: number, energy: number}[]} */
  const inbound = [];
  for (const [pc, conn] of Object.entries(pcs)) {
    const report = await conn.getStats();
    report.forEach((r) => {
      if (r.type === 'inbound-rtp') {
        inbound.push({
          pc,
          kind: r.kind,
          track: r.trackIdentifier,
          ssrc: r.ssrc,
          packets: r.packetsReceived || 0,
          lost: r.packetsLost || 0,
          nacks: r.nackCount || 0,
          plis: r.pliCount || 0,
          frames: r.framesDecoded || 0,
          height: r.frameHeight || 0,
          freezes: r.freezeCount || 0,
          samples: r.totalSamplesReceived || 0,
          concealed: r.concealedSamples || 0,
          played: (r.totalSamplesReceived || 0) - (r.concealedSamples || 0),
          energy: r.totalAudioEnergy || 0,
        });
      }
    });
  }
  return inbound;
}

/**
 * The path each connection's media takes: the protocol and type of the
 * local candidate of its selected pair ("udp host", "tcp prflx", "udp
 * relay" with the relay's own protocol).
 * @param {Record<string, RTCPeerConnection>} pcs
 */
export async function paths(pcs) {
  /** @type {Record<string, {protocol: string, type: string, relayProtocol: string} | null>} */
  const out = {};
  for (const [pc, conn] of Object.entries(pcs)) {
    const report = await conn.getStats();
    /** @type {any} */
    let pair = null;
    report.forEach((r) => {
      if (r.type === 'transport' && r.selectedCandidatePairId) pair = report.get(r.selectedCandidatePairId);
    });
    const local = pair ? report.get(pair.localCandidateId) : null;
    out[pc] = local ? { protocol: local.protocol, type: local.candidateType, relayProtocol: local.relayProtocol || '' } : null;
  }
  return out;
}

/**
 * What a connection sends of its video, per simulcast layer, and what
 * the browser estimates it may send (`available`, bit/s).
 * @param {RTCPeerConnection | undefined} pc
 */
export async function sent(pc) {
  /** @type {{rid: string, height: number, frames: number, bytes: number, limited: string}[]} */
  const layers = [];
  let available = 0;
  if (!pc) return { layers, available };
  (await pc.getStats()).forEach((r) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') {
      layers.push({ rid: r.rid || '', height: r.frameHeight || 0, frames: r.framesEncoded || 0, bytes: r.bytesSent || 0, limited: r.qualityLimitationReason || '' });
    }
    if (r.type === 'candidate-pair' && r.nominated && r.availableOutgoingBitrate) available = r.availableOutgoingBitrate;
  });
  return { layers, available };
}

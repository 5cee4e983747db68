// What the page asks of the browser's devices: the camera and microphone
// constraints, the list of devices for the pickers, and how the camera is
// sent (simulcast layers through the server).

/** @typedef {{camera: string, microphone: string}} DeviceChoice device ids; '' is the browser's default */

/**
 * @param {DeviceChoice} choice
 * @param {boolean} video
 * @returns {MediaStreamConstraints}
 */
export function constraints(choice, video) {
  const camera = { width: 640, height: 480, frameRate: 15 };
  return {
    audio: choice.microphone ? { deviceId: { exact: choice.microphone } } : true,
    video: video ? (choice.camera ? { ...camera, deviceId: { exact: choice.camera } } : camera) : false,
  };
}

/**
 * Through the server, the camera goes as simulcast layers: each
 * subscriber gets the one that fits its tile (docs/media.md "Simulcast").
 * As many as the browser encodes for the camera's size (Chromium: three
 * from 540 lines, two from 360, else one): a quarter, half and the whole
 * picture, or half and the whole. Peer to peer it goes as one stream: the
 * other page is the only receiver.
 * @param {MediaStreamTrack} track
 * @param {MediaStream} local
 * @returns {RTCRtpTransceiverInit}
 */
export function publishing(track, local) {
  const one = { direction: /** @type {const} */ ('sendonly'), streams: [local] };
  if (track.kind !== 'video') return one;
  const lines = track.getSettings().height || 0;
  const f = { rid: 'f', maxBitrate: 900_000 };
  const q = { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 100_000 };
  if (lines >= 540) return { ...one, sendEncodings: [q, { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 300_000 }, f] };
  // The lower of two is the one a slow link gets: as cheap as the
  // quarter-size layer of three.
  if (lines >= 360) return { ...one, sendEncodings: [{ rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 100_000 }, f] };
  return one;
}

/**
 * The cameras and microphones the browser names (names come once a
 * device was allowed). Chromium's `default` and `communications` entries
 * repeat a real device; the pickers' first option is the default already.
 * @returns {Promise<{cameras: {id: string, label: string}[], microphones: {id: string, label: string}[]}>}
 */
export async function listDevices() {
  const all = await navigator.mediaDevices.enumerateDevices().catch(() => []);
  /** @param {MediaDeviceKind} kind @param {string} unnamed */
  const of = (kind, unnamed) =>
    all.filter((d) => d.kind === kind && d.deviceId && d.deviceId !== 'default' && d.deviceId !== 'communications').map((d, i) => ({ id: d.deviceId, label: d.label || `${unnamed} ${i + 1}` }));
  return { cameras: of('videoinput', 'Camera'), microphones: of('audioinput', 'Microphone') };
}

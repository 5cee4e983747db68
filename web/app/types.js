// Shapes of what the server sends (docs/protocol.md), for the type checker.
// This module has no code: it only names types the others import.

/**
 * A message on the WebSocket, either way. Every client request has `type`
 * and `id`; answers echo the `id`; events have none.
 * @typedef {{type: string, id?: string, [field: string]: any}} Message
 */

/**
 * @typedef {object} Participant
 * @property {string} id
 * @property {string} name
 * @property {'moderator' | 'participant'} role
 * @property {boolean} phone
 * @property {string | null} number full for moderators, masked for others
 * @property {boolean} muted
 * @property {boolean} owner
 */

/**
 * @typedef {object} ChatMessage
 * @property {string} id
 * @property {string} from
 * @property {string} from_name
 * @property {number} at
 * @property {string | null} text
 * @property {boolean} deleted
 */

/**
 * @typedef {object} Block
 * @property {string} id
 * @property {string} name
 * @property {string} by
 * @property {number} at
 */

/**
 * @typedef {object} DocumentInfo
 * @property {string} id
 * @property {string} name
 * @property {string} content_type
 * @property {number} size
 * @property {string} by
 * @property {number} at
 */

/** @typedef {'everyone' | 'moderators'} Audience */

/** @typedef {'off' | 'everyone' | 'unknown_guests'} WaitingRoom */

/**
 * Someone in the waiting room, as moderators see them.
 * @typedef {object} Waiter
 * @property {string} id
 * @property {string} name
 * @property {boolean} phone
 * @property {string | null} number the caller's full number
 * @property {number} since
 * @property {'setting' | 'after_block' | 'codes_guessed'} reason
 */

/**
 * @typedef {object} MediaMode
 * @property {'sfu' | 'p2p'} mode
 * @property {string | null} peer
 * @property {boolean} offerer
 */

/**
 * One video tile: a participant's camera and microphone (`id` is theirs),
 * or their screen (`id` is theirs plus `:screen`). `owner` is the
 * participant's id. `tracks` counts the tracks added, so the view knows to
 * start playback again. `video` is false while the camera is off.
 * @typedef {{id: string, owner: string, stream: MediaStream, mine: boolean, screen: boolean, video: boolean, tracks: number}} Tile
 */

/**
 * How well media reaches a participant and comes from them, as the
 * server's `connection_quality` tells moderators.
 * @typedef {object} Reception
 * @property {string} participant
 * @property {'good' | 'fair' | 'poor'} quality
 * @property {number | null} receive_loss_percent lost on the way to them
 * @property {number | null} send_loss_percent lost on the way from them
 * @property {number | null} rtt_ms
 * @property {number | null} estimate_kbps
 */

/**
 * What a person types in the join form.
 * @typedef {object} JoinFields
 * @property {string | null} access_code
 * @property {string | null} security_code
 * @property {string | null} moderator_pin
 * @property {string | null} name
 * @property {string | null} [account_token] the owner's join from the account pages (app/handover.js)
 * @property {string} [conference] with `account_token`, instead of the access code: the owner's door
 * @property {string} [join_token] instead of codes and a name: an application's token (docs/tokens.md)
 */

export {};

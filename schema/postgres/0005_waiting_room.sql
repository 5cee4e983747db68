-- The waiting room (docs/room.md): a conference's setting, chosen by its
-- moderators in the room (NULL: the account's default), and the account's
-- default.

ALTER TABLE room_state ADD COLUMN waiting_room TEXT
    CHECK (waiting_room IN ('off', 'everyone', 'unknown_guests'));
ALTER TABLE accounts ADD COLUMN waiting_room TEXT NOT NULL DEFAULT 'off'
    CHECK (waiting_room IN ('off', 'everyone', 'unknown_guests'));

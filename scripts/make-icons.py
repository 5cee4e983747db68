#!/usr/bin/env python3
"""Draws the web app's icons (web/icons/icon-192.png, icon-512.png) with the
standard library only: a conference table seen from above, three seats, on
the page's accent colour. Run it again after changing the drawing; the
PNGs are committed so the server needs nothing at build time."""

import math
import struct
import zlib
from pathlib import Path

BACKGROUND = (36, 52, 110)
TABLE = (255, 255, 255)
SEAT = (140, 200, 255)


def pixel(x, y, size):
    """The colour at (x, y) of a square icon `size` wide, with a safe zone
    for maskable icons: everything drawn lies within the central 80 %."""
    c = size / 2
    dx, dy = x + 0.5 - c, y + 0.5 - c
    r = math.hypot(dx, dy)
    if r < size * 0.17:
        return TABLE
    for k in range(3):
        a = -math.pi / 2 + k * 2 * math.pi / 3
        sx, sy = c + math.cos(a) * size * 0.29, c + math.sin(a) * size * 0.29
        if math.hypot(x + 0.5 - sx, y + 0.5 - sy) < size * 0.085:
            return SEAT
    return BACKGROUND


def png(size):
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # no filter
        for x in range(size):
            rows.extend(pixel(x, y, size))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def main():
    out = Path(__file__).resolve().parent.parent / "web" / "icons"
    out.mkdir(exist_ok=True)
    for size in (192, 512):
        (out / f"icon-{size}.png").write_bytes(png(size))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A slow, lossy link for the network tests (netns.js): this kernel has no
netem, so two TUN devices stand in for the wire, one on the host and one
inside a network namespace, and this process carries each IP packet from
one to the other after a delay, dropping a share of them at random.

Usage: delay_line.py HOST_IF NAMESPACE INSIDE_IF DELAY_MS LOSS_PERCENT

Both devices exist already (`ip tuntap add`). Prints "ready" once both are
attached. A line "DELAY_MS LOSS_PERCENT" on stdin changes the link; the
end of stdin ends the process, so it never outlives its test.
"""

import ctypes
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MTU = 65535


def attach(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def enter(namespace):
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/var/run/netns/{namespace}") as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {namespace}")


def main():
    host_if, namespace, inside_if = sys.argv[1:4]
    delay = float(sys.argv[4]) / 1000.0
    loss = float(sys.argv[5]) / 100.0
    outside = attach(host_if)
    # The device inside is only found from inside; its descriptor keeps
    # working from anywhere.
    enter(namespace)
    inside = attach(inside_if)
    other = {outside: inside, inside: outside}
    stdin = sys.stdin.fileno()
    queue = []  # (due, order, to, packet): the order keeps the wire's
    order = 0
    print("ready", flush=True)
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, to, packet = heapq.heappop(queue)
            try:
                os.write(to, packet)
            except OSError:
                pass  # the device is gone or full: the wire lost it
        timeout = max(0.0, queue[0][0] - now) if queue else None
        readable, _, _ = select.select([outside, inside, stdin], [], [], timeout)
        now = time.monotonic()
        for fd in readable:
            if fd == stdin:
                line = sys.stdin.readline()
                if not line:
                    return
                ms, percent = line.split()
                delay, loss = float(ms) / 1000.0, float(percent) / 100.0
                continue
            while True:
                try:
                    packet = os.read(fd, MTU)
                except BlockingIOError:
                    break
                if random.random() < loss:
                    continue
                order += 1
                heapq.heappush(queue, (now + delay, order, other[fd], packet))


if __name__ == "__main__":
    main()

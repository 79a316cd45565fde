"""Loopback ports for the devkit's processes and the tests: one home for choosing them.

A port is chosen before the server that listens on it starts: the host's port goes into the
app's `PUBLIC_BASE_URL` first, Azurite binds its three again after a restart, Prism and the mail
server bind theirs once started. So every port here comes from below the kernel's ephemeral
range. The kernel hands ephemeral ports to every outgoing connection and to every bind to port 0
(another test's server, another worker's Azurite), and a port chosen in that range can be handed
to one of those before its server binds it, or the same port handed out twice in a row (two of a
restartable Azurite's services once got the same port, and the second could not listen); never
one below it. Ports several servers need together come from one call, so they are distinct.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"
#: The lowest port chosen (below it: the well-known and registered ports local tools listen on,
#: and Azurite's own defaults at 10000-10002).
LOWEST_PORT = 10003
#: Linux's default `ip_local_port_range` start, when /proc does not say.
DEFAULT_EPHEMERAL_START = 32768


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Whether something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_START


def free_port_block(count: int, host: str = LOOPBACK, attempts: int = 200) -> int:
    """The first of `count` consecutive ports, none listened on, all below the kernel's ephemeral
    range (see the module doc); AssertionError after `attempts` random tries."""
    highest_start = max(LOWEST_PORT, ephemeral_start() - count)
    chooser = random.Random()
    for _ in range(attempts):
        start = chooser.randrange(LOWEST_PORT, highest_start + 1)
        if not any(port_in_use(start + offset, host) for offset in range(count)):
            return start
    raise AssertionError(f"no {count} consecutive free ports below {highest_start + count}")


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct free ports (consecutive), for servers started together."""
    start = free_port_block(count, host)
    return [start + offset for offset in range(count)]


def free_port(host: str = LOOPBACK) -> int:
    """A free port, for one server."""
    return free_port_block(1, host)

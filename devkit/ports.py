"""Loopback ports for the devkit's processes and the tests: one home for choosing them.

Two kinds, for two uses:

- `free_port()`: a port the kernel handed out a moment ago (bind to port 0), for a server that
  binds it at once. Two calls can return the same port (the kernel may hand a released port out
  again), so a process that needs several asks `free_ports(n)`, which holds them all open while
  choosing.
- `free_port_block(n)`: N consecutive ports below the kernel's ephemeral range, for a server
  that binds them later or binds them again after a restart (Azurite on fixed ports). The
  kernel hands ephemeral ports to every outgoing connection and every bind to port 0, so
  between the choice and the bind one of those can take a port inside that range; never one
  below it.
"""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"
#: The lowest port `free_port_block` picks (ports below are the well-known and registered ones
#: local tools listen on, and Azurite's own defaults sit at 10000-10002).
LOWEST_BLOCK_PORT = 10003
#: Linux's default `ip_local_port_range` start, when /proc does not say.
DEFAULT_EPHEMERAL_START = 32768


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Whether something already listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports the kernel handed out together (each socket is held open until
    all are chosen, so no port comes back twice)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port(host: str = LOOPBACK) -> int:
    """A port that was free a moment ago, for a server that binds it at once."""
    return free_ports(1, host)[0]


def ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_START


def free_port_block(count: int, host: str = LOOPBACK, attempts: int = 200) -> int:
    """The first of `count` consecutive ports, none listened on, all below the kernel's ephemeral
    range (see the module doc); AssertionError after `attempts` random tries."""
    highest_start = max(LOWEST_BLOCK_PORT, ephemeral_start() - count)
    chooser = random.Random()
    for _ in range(attempts):
        start = chooser.randrange(LOWEST_BLOCK_PORT, highest_start + 1)
        if not any(port_in_use(start + offset, host) for offset in range(count)):
            return start
    raise AssertionError(f"no {count} consecutive free ports below {highest_start + count}")

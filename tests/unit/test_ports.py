"""`devkit.ports`: the ports the devkit and the tests start servers on."""

from __future__ import annotations

import socket

from devkit.ports import (
    LOWEST_BLOCK_PORT,
    ephemeral_start,
    free_port_block,
    free_ports,
    port_in_use,
)


def test_ports_chosen_together_are_distinct() -> None:
    """Chosen one by one, the kernel may hand the same released port out twice (two Azurite
    services once got the same one and the second could not listen)."""
    for _ in range(20):
        ports = free_ports(3)
        assert len(set(ports)) == 3


def test_a_block_is_free_and_below_the_kernels_ephemeral_range() -> None:
    first = free_port_block(3)
    assert first >= LOWEST_BLOCK_PORT
    assert first + 2 < ephemeral_start()
    assert not any(port_in_use(first + offset) for offset in range(3))


def test_a_port_listened_on_is_in_use() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert port_in_use(server.getsockname()[1])

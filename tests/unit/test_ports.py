"""`devkit.ports`: the ports the devkit and the tests start servers on."""

from __future__ import annotations

import socket

from devkit.ports import LOWEST_PORT, ephemeral_start, free_port, free_ports, port_in_use


def test_ports_chosen_together_are_distinct_free_and_below_the_ephemeral_range() -> None:
    """Chosen one by one with port 0, the kernel may hand the same released port out twice (two
    Azurite services once got the same one, and the second could not listen)."""
    ports = free_ports(3)
    assert len(set(ports)) == 3
    assert min(ports) >= LOWEST_PORT
    assert max(ports) < ephemeral_start()
    assert not any(port_in_use(port) for port in ports)


def test_a_port_for_one_server_is_free_and_can_be_listened_on() -> None:
    port = free_port()
    assert LOWEST_PORT <= port < ephemeral_start()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert port_in_use(port)

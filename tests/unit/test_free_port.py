"""The local cluster's ports (`drb_localcluster.procs.free_port`) come from below the kernel's ephemeral range,
where no process's outgoing connection can take one before the component told to listen there binds it."""

from __future__ import annotations

import socket

from drb_localcluster.procs import PORT_FLOOR, ephemeral_low, free_port


def test_ports_are_free_and_below_the_ephemeral_range():
    low = ephemeral_low()
    ports = {free_port() for _ in range(20)}
    assert all(PORT_FLOOR <= port < low for port in ports)
    assert len(ports) > 1  # at random: clusters starting side by side seldom meet
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_handed_out(monkeypatch):
    from drb_localcluster import procs

    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        taken = held.getsockname()[1]
        other = free_port()
        draws = iter([taken, taken, other])
        monkeypatch.setattr(procs.random, "randrange", lambda low, high: next(draws))
        assert free_port() == other

"""Fixtures the unit tests share."""

from __future__ import annotations

import socket
from typing import Iterator

import pytest


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Two connected sockets (server side, client side): a real socket under gunicorn's readers."""
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()

"""Jobs on several hosts: the leader keeps a port open while it works; the others wait on it.

scikit-learn trains, and `process` prepares data, on one host: the leader, the first of the
sorted hosts. The other hosts have nothing to do, but must not simply exit. SageMaker SDK local
mode runs a multi-host job as `docker compose up --abort-on-container-exit`, where the first
container to exit stops all the others: a host that exits at once stops the leader mid-fit, and
the job's model.tar.gz comes out empty.

So the leader listens on LEADER_PORT while it works, and every other host connects to it and
waits until that connection closes, which the kernel does when the leader's process ends,
however it ends (even SIGKILL). Then the host exits 0. The wait is bounded without guessing
how long training takes:

- Reaching the leader: its name is resolved and connected to, retried (host names may not
  resolve at first, so DNS is retried as the contract asks) for up to REACH_SECONDS, 180 by
  default (BYOC_LEADER_WAIT_SECONDS). A leader not reached by then has finished already or is
  behind a network that forbids it; the host stops waiting and exits 0.
- Connected: for as long as the leader's process lives, which the job's MaxRuntimeInSeconds
  bounds. TCP keepalive probes notice a leader whose machine vanished without closing the
  connection within about two minutes.

On SageMaker itself each host's exit is independent, and the job ends once every host has
exited (a processing job is Completed only if every container exits 0). A waiting host
therefore ends with the leader, or at most REACH_SECONDS after it started, never later: it
cannot hold a real job open past its leader's own end by more than that.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

PORT_ENV = "BYOC_LEADER_PORT"
WAIT_ENV = "BYOC_LEADER_WAIT_SECONDS"
LEADER_PORT = 7799
REACH_SECONDS = 180.0
RETRY_SECONDS = 1.0
#: TCP keepalive: first probe after 60 s of silence, then every 15 s, 4 unanswered -> closed.
KEEPALIVE = (60, 15, 4)
#: Connections the leader holds at most (one per host; SageMaker allows 100 instances).
MAX_PEERS = 512


def port() -> int:
    value = os.environ.get(PORT_ENV, "")
    return int(value) if value.isdigit() and 0 < int(value) < 65536 else LEADER_PORT


def reach_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, REACH_SECONDS)))
    except ValueError:
        return REACH_SECONDS


class Presence:
    """The leader's side: a daemon thread accepting connections and holding them until exit.

    Nothing is ever sent or read: the connection's end is the message. Failing to listen
    (the port taken) is logged, not fatal: the other hosts then wait out their bound.
    """

    def __init__(self, listen_port: int | None = None) -> None:
        self.port = port() if listen_port is None else listen_port
        self._server: socket.socket | None = None
        self._peers: list[socket.socket] = []

    def start(self) -> "Presence":
        try:
            server = socket.create_server(("", self.port), backlog=64, reuse_port=False)
        except OSError as exc:
            log.warning("Leader: cannot listen on port %d (%s); the other hosts will wait up to %.0f s each.",
                        self.port, exc, reach_seconds())
            return self
        self._server = server
        log.info("Leader: the other hosts wait on port %d until this host's work ends.", self.port)
        threading.Thread(target=self._accept, name="leader-presence", daemon=True).start()
        return self

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                peer, address = self._server.accept()
            except OSError:
                return  # closed
            if len(self._peers) >= MAX_PEERS:
                peer.close()
                continue
            _keepalive(peer)
            self._peers.append(peer)
            log.info("Leader: host at %s is waiting for this host's work to end.", address[0])

    def close(self) -> None:
        """Close the connections now (the process's exit would close them anyway)."""
        for sock in [self._server, *self._peers]:
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass


def wait_for(leader: str, *, listen_port: int | None = None, reach: float | None = None,
             sleep: Callable[[float], None] = time.sleep) -> str:
    """Block until the leader's work ends (its connection closes) or it cannot be reached
    within `reach` seconds; what ended the wait, in words for the log."""
    target = port() if listen_port is None else listen_port
    budget = reach_seconds() if reach is None else reach
    deadline = time.monotonic() + budget
    last_error = "no attempt"
    while True:
        try:
            address = socket.getaddrinfo(leader, target, type=socket.SOCK_STREAM)[0][4]
            sock = socket.create_connection(address[:2], timeout=5)
        except OSError as exc:  # socket.gaierror (DNS), refused, unreachable, timed out
            last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                return (f"the leader {leader}:{target} could not be reached within {budget:.0f} s "
                        f"({last_error}): it has finished, or the network forbids it")
            sleep(RETRY_SECONDS)
            continue
        break
    log.info("Waiting for the leader %s to finish (connected to port %d).", leader, target)
    started = time.monotonic()
    with sock:
        sock.settimeout(None)
        _keepalive(sock)
        try:
            while sock.recv(1024):
                pass  # the leader sends nothing; any bytes are ignored
        except OSError as exc:
            return f"the connection to the leader {leader} failed after {time.monotonic() - started:.0f} s ({exc})"
    return f"the leader {leader} finished after {time.monotonic() - started:.0f} s"


def _keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle, interval, count = KEEPALIVE
    for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count)):
        option = getattr(socket, name, None)
        if option is not None:  # Linux (the image); macOS lacks some of them
            try:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
            except OSError:
                pass

"""HTTP/1.1 servers on 127.0.0.1 that misbehave on cue, for tests of what byoc does when a
connection is reset, stalls or is cut short (imported by name: tests/ has no packages).

A test subclasses FaultHandler and decides, per request, to answer(), forward() to a real server
(serve, moto_server), reset() the connection or stall() it until the test ends.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import struct
import threading
import urllib.parse

#: Hop-by-hop headers, and those the forwarding handler sets itself.
_NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}


class FaultServer(http.server.ThreadingHTTPServer):
    """A threaded server on a free port of 127.0.0.1; close() releases stalled connections."""

    daemon_threads = True

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.released = threading.Event()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "FaultServer":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()


class FaultHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients under test expect
    server: FaultServer

    def log_message(self, *args: object) -> None:
        pass

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reset(self) -> None:
        """Close with a TCP RST (SO_LINGER 0): the client's read fails with a reset."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def stall(self) -> None:
        """Say nothing until the test ends (FaultServer.close), then close."""
        self.server.released.wait(60)
        self.close_connection = True

    def answer(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None,
               send: int | None = None) -> None:
        """Answer with body, announced whole; send, when given, is how many of its bytes go
        out before the connection closes (a body cut short)."""
        headers = headers or [("Content-Type", "text/plain")]
        length = str(len(body))
        if self.command == "HEAD":  # no body, but the length of the one a GET would get
            length = next((v for n, v in headers if n.lower() == "content-length"), length)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _NOT_FORWARDED:
                self.send_header(name, value)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body if send is None else body[:send])
        if send is not None:
            self.close_connection = True

    def forward(self, upstream: str, body: bytes | None = None) -> tuple[int, bytes, list[tuple[str, str]]]:
        """This request sent on to upstream (a URL): its (status, body, headers), as answer() takes them."""
        target = urllib.parse.urlsplit(upstream)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), response.getheaders()
        finally:
            connection.close()

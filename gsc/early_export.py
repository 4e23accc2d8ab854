"""Start a daemon image's ``docker save`` before gsc's heavy imports.

The Engine prepares a whole export before it sends the first byte (about a second for a
250 MB image), and ``gsc build`` needs some 0.2 s of imports (docker-py, requests, jinja2,
cryptography, elftools) and Engine round trips before it would ask for it. So, as soon as
the CLI knows it builds an image of the local Engine, ``start`` sends the request
(``GET /images/NAME/get``, plain HTTP over the Engine's Unix socket, on a connection of its
own) and the daemon works while Python imports. ``EarlyExport.take`` later gives the
response body to the image reader (gsc.image.loader.DaemonSource), which checks the
content against the image ID it looked up as usual.

This only ever saves time: whenever it cannot help (DOCKER_HOST is not ``unix://``, the
socket cannot be reached, the Engine answers anything but 200, e.g. for a missing image
that will be pulled) it steps aside, and the usual path (gsc.engine through docker-py)
does the work and gives the usual messages. Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

DEFAULT_SOCKET = "/var/run/docker.sock"   # docker-py's default without DOCKER_HOST
CONNECT_TIMEOUT = 10.0


def socket_path(environ: Mapping[str, str] = os.environ) -> str | None:
    """The Engine's Unix socket as docker-py would reach it, or None when DOCKER_HOST names
    another transport (tcp://, ssh://, ...), which only the usual path handles."""
    host = environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://") and host[len("unix://"):].startswith("/"):
        return host[len("unix://"):]
    return None


def request(ref: str) -> bytes:
    """The HTTP request for the ``docker save`` stream of ``ref`` (quoted as docker-py
    quotes URL arguments)."""
    path = "/images/" + quote_plus(ref, safe="/:") + "/get"
    return (f"GET {path} HTTP/1.1\r\nHost: docker\r\nUser-Agent: gsc\r\n"
            "Connection: close\r\n\r\n").encode("ascii")


class EarlyExport:
    """An export request already sent; the response is read by ``take``."""

    def __init__(self, ref: str, sock: socket.socket) -> None:
        self.ref = ref
        self._sock: socket.socket | None = sock
        self._response: Any = None

    def take(self) -> tuple[Any, Callable[[], None]] | None:
        """(body stream with ``read``/``readinto``, function that closes it and unblocks a
        thread waiting in a read) when the Engine answered 200; None otherwise (the
        connection is then closed, and the caller goes the usual way). Once only."""
        sock, self._sock = self._sock, None
        if sock is None:
            return None
        import http.client

        response = http.client.HTTPResponse(sock)
        self._response = response
        try:
            response.begin()
        except (OSError, http.client.HTTPException):
            self._close(sock)
            return None
        if response.status != 200 or response.getheader("Content-Encoding"):
            self._close(sock)
            return None
        return response, lambda: self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        if self._response is not None:
            self._response.close()
        sock.close()

    def close(self) -> None:
        """Drop the request if nobody took it (closing the connection tells the Engine)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            self._close(sock)


def start(ref: str, environ: Mapping[str, str] = os.environ) -> EarlyExport | None:
    """Send the export request for daemon image ``ref``; None when it cannot be sent."""
    path = socket_path(environ)
    if path is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        sock.connect(path)
        sock.sendall(request(ref))
        sock.settimeout(None)   # the Engine answers only once the export is ready
    except OSError:
        sock.close()
        return None
    return EarlyExport(ref, sock)

"""Connection bounds uvicorn lacks: a request read deadline and a cap on open connections.

Measured with uvicorn 0.54: a connection that sends part of its headers and then nothing is
never closed (`timeout_keep_alive` only runs between requests, `limit_concurrency` answers 503
only once a request's headers are complete), so a thousand such connections hold a thousand
file descriptors until the process hits its limit and stops accepting anything, `/healthz`
included. These protocol classes add, beneath any ASGI app:

- a deadline for reading each request (headers, then body): armed when the connection opens and
  after each response, and if it passes before the request is read, the connection is closed;
- a cap on open connections per process: past it, a new connection is closed at once, so it
  costs a file descriptor for a moment and never a task.

Uvicorn builds its protocol objects from a class, not a factory, so the bounds are class
attributes; `configure` sets them from the settings in each worker process (the app factory
calls it, and it runs in every worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol

from sondos_mcp.config import Settings


def _no_delay(transport: asyncio.BaseTransport) -> None:
    """Send small writes at once. The CLI binds the port itself and gives uvicorn the descriptor,
    which uvicorn wraps as a Unix socket, so asyncio does not set TCP_NODELAY as it does for TCP:
    each answer's second write (the body after the headers) then waits for the client's delayed
    ACK, about 40 ms."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # a real Unix socket has no such option
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Guard:
    read_timeout: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = 2048

    # Attributes of uvicorn's protocol classes this mixin relies on.
    connections: set[Any]
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    _read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        _no_delay(transport)
        if len(self.connections) > self.max_connections:
            self.transport.abort()  # the stream transport uvicorn's connection_made has just kept
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._arm()

    def _arm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._read_timer = self.loop.call_later(self.read_timeout, self._read_timed_out)

    def _read_timed_out(self) -> None:
        self._read_timer = None
        cycle = self.cycle
        # No request read yet (or only the previous one answered), or its body still coming in.
        if cycle is None or cycle.response_complete or cycle.more_body:
            self.transport.close()


class GuardedH11Protocol(_Guard, H11Protocol):
    """uvicorn's h11 protocol with the read deadline and connection cap."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional; uvicorn then serves with h11
    GuardedHttpToolsProtocol: type | None = None
else:

    class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):  # type: ignore[no-redef]
        """uvicorn's httptools protocol with the read deadline and connection cap."""


def configure(settings: Settings) -> None:
    _Guard.read_timeout = settings.http_header_timeout
    _Guard.max_connections = settings.http_max_connections


def protocol_class() -> type:
    """The guarded protocol uvicorn would pick on its own: httptools when installed, else h11."""
    return GuardedHttpToolsProtocol or GuardedH11Protocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `uvicorn.run` needs besides the app to serve within the bounds."""
    configure(settings)
    return {"http": protocol_class(), "timeout_keep_alive": 5, "log_config": None, "access_log": False}


def raise_open_files_limit(wanted: int) -> None:
    """Lift the soft open-files limit towards `wanted` (never past the hard one): 1024 is a common default."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))

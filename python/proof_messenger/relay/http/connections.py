"""Connections: how long a peer may hold one without sending a request, and how many
one relay process keeps (issue 13).

uvicorn closes a keep-alive connection that stays silent after a response, but it puts
no timer on a new connection nor on a request head that arrives a byte at a time, and
it accepts connections until the process runs out of file descriptors (then SQLite
cannot open its files and new clients are not accepted at all). This protocol adds:

- ``idle_timeout_s``: a connection that sends nothing, new or after a response, is
  closed (uvicorn's keep-alive timer, also armed on a new connection);
- ``head_timeout_s``: the request head must be complete within this time from the
  connection's opening or the previous response's end, however slowly it trickles;
  else the peer gets 408 and the connection is closed;
- ``max_connections``: at the bound, a new connection evicts the oldest one that is
  waiting for a request head (silent or trickling peers lose their place first); if
  every connection has a request in progress, the new one is closed. Requests in
  progress are never cut off.

``fit_fd_limit`` raises the process's soft descriptor limit to what the bound needs,
and lowers the bound (with a warning) when the hard limit cannot hold it.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("proof_messenger.relay")

# Descriptors a relay process needs besides its client connections: the listening
# socket, SQLite's database, WAL and shared-memory files, the audit log's files, the
# Redis pool, the event loop's own, standard streams. Measured: 23 open with Redis.
FD_RESERVE = 64

_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@dataclass(frozen=True)
class ConnectionLimits:
    head_timeout_s: float = 10.0
    idle_timeout_s: float = 5.0
    max_connections: int = 1024


def fit_fd_limit(max_connections: int) -> int:
    """Raises the soft RLIMIT_NOFILE towards ``max_connections + FD_RESERVE`` (up to
    the hard limit) and returns the connection bound that fits in it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < want:
        target = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft == resource.RLIM_INFINITY or soft >= want:
        return max_connections
    fitted = soft - FD_RESERVE
    if fitted < 1:
        raise SystemExit(
            f"proof-messenger relay: the file descriptor limit ({soft}) leaves no room for"
            f" connections; raise it (systemd LimitNOFILE=, docker --ulimit nofile=) to at least"
            f" {want}"
        )
    log.warning(
        "max_connections lowered from %d to %d: the file descriptor limit is %d (hard %s);"
        " raise it to %d (systemd LimitNOFILE=, docker --ulimit nofile=) to keep the setting",
        max_connections,
        fitted,
        soft,
        "unlimited" if hard == resource.RLIM_INFINITY else hard,
        want,
    )
    return fitted


def protocol_class(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """An uvicorn HTTP protocol class enforcing ``limits`` for one server."""
    # Connections waiting for a request head, oldest first (dicts keep insertion order).
    waiting: dict[BoundedProtocol, None] = {}

    class BoundedProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections and not _evict_oldest(self):
                log.warning("connection refused: %d connections open", len(self.connections) - 1)
                transport.close()
                return
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
            self._await_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            self._stop_waiting()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # A pipelined request already started has its head: nothing to wait for.
            if not self.transport.is_closing() and self.cycle.response_complete:
                self._await_head()

        def _await_head(self) -> None:
            waiting[self] = None
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(limits.head_timeout_s, self._head_timed_out)

        def _stop_waiting(self) -> None:
            waiting.pop(self, None)
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _unsupported_upgrade_warning(self) -> None:
            # The relay serves no WebSocket (uvicorn runs with ws="none") and answers an
            # upgrade request as plain HTTP; uvicorn would log two warnings for each one,
            # lines any outsider could write into the relay's log at will.
            pass

        def _head_timed_out(self) -> None:
            self._head_timer = None
            waiting.pop(self, None)
            if not self.transport.is_closing():
                self.transport.write(_TIMEOUT_ANSWER)
                self.transport.close()

    def _evict_oldest(newcomer: Any) -> bool:
        for victim in waiting:
            if victim is not newcomer:
                victim._stop_waiting()
                victim.transport.close()
                return True
        return False

    return BoundedProtocol

"""The relay's outermost ASGI layer: request id, security headers, HTTP metrics, and
the dispatch of the two verification paths straight to their plain-ASGI endpoints.

A plain ASGI class wrapping the framework app (as Starlette's own middleware
is), not a subclass of it: every HTTP request gets an ``X-Request-Id`` (the
caller's, if well-formed, else a new one), ``X-Content-Type-Options: nosniff``
and, unless the route set one, ``Cache-Control: no-store``, and is counted in
the request metrics; the verification requests never enter the framework.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import RelayMetrics
from .verify import PATHS, VerifyEndpoints

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_NO_STORE = (b"cache-control", b"no-store")


def _request_id_source() -> Callable[[], str]:
    """Unique per process without a syscall per request: random prefix + counter."""
    prefix = secrets.token_hex(4)
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter):x}"


_request_ids = _request_id_source()


class RelayMiddleware:
    def __init__(self, app: ASGIApp, *, verify: VerifyEndpoints, metrics: RelayMetrics) -> None:
        self.app = app
        self.verify = verify
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                rid = text if _REQUEST_ID.match(text) else None
                break
        rid = rid or _request_ids()
        scope["pm.request_id"] = rid
        extra = [(b"x-request-id", rid.encode("ascii")), (b"x-content-type-options", b"nosniff")]
        m = self.metrics
        status = 500
        route = scope["path"] if scope["path"] in PATHS else "unmatched"
        m.in_flight.inc()
        try:
            if route in PATHS:
                status = await self.verify.serve(scope, receive, send, [*extra, _NO_STORE])
            else:

                async def send_wrapper(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                        headers = [*message.get("headers", ()), *extra]
                        if not any(k == b"cache-control" for k, _ in headers):
                            headers.append(_NO_STORE)
                        message = {**message, "headers": headers}
                    await send(message)

                try:
                    await self.app(scope, receive, send_wrapper)
                finally:
                    route = getattr(scope.get("route"), "path", None) or "unmatched"
        finally:
            m.in_flight.dec()
            m.observe_request(scope["method"], route, status, time.perf_counter() - start)

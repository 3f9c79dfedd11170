"""Refusals and failures as HTTP answers: the one place codes become status codes.

Every error answer is ``{"error": {"code": "...", "detail": "..."}}``. A
:class:`~proof_messenger.relay.errors.Refused` maps by its code
(:data:`HTTP_STATUS`; a core code, which refuses a malformed proof, is 400);
a failing store is 503 ``service_unavailable`` (fail closed, never a 500);
anything else is a bug: 500 ``internal_error``, logged. The FastAPI routes get
this through exception handlers (:func:`install_handlers`, keyed by class);
the plain-ASGI verification endpoints call :func:`error_answer` themselves.

>>> status, body, headers = error_answer(Refused("rate_limited", "slow down", retry_after_s=3))
>>> status, headers
(429, [(b'retry-after', b'3')])
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import errors
from ..errors import Refused
from ..stores import STORE_ERRORS
from .encoding import dumps

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("proof_messenger.relay")

HTTP_STATUS: Mapping[str, int] = {
    errors.UNAUTHORIZED: 401,
    errors.RATE_LIMITED: 429,
    errors.UNSUPPORTED_MEDIA_TYPE: 415,
    errors.REQUEST_TIMEOUT: 408,
    errors.INVALID_REQUEST: 400,
    errors.BATCH_TOO_LARGE: 413,
    errors.INPUT_TOO_LARGE: 413,
    errors.NOT_FOUND: 404,
    errors.FORBIDDEN: 403,
    errors.METHOD_NOT_ALLOWED: 405,
    errors.ALREADY_ENROLLED: 409,
    errors.SERVICE_UNAVAILABLE: 503,
    errors.OVERLOADED: 503,
    errors.INTERNAL_ERROR: 500,
}
WWW_AUTHENTICATE = 'Bearer realm="proof-messenger"'
Headers = list[tuple[bytes, bytes]]


def body(code: str, detail: str) -> bytes:
    return dumps({"error": {"code": code, "detail": detail}})


def refusal_answer(refusal: Refused, extra: Mapping[str, str] | None = None) -> tuple[int, bytes, Headers]:
    status = HTTP_STATUS.get(refusal.code, 400)
    headers: Headers = []
    if status == 401:
        headers.append((b"www-authenticate", WWW_AUTHENTICATE.encode()))
    if refusal.retry_after_s is not None:
        headers.append((b"retry-after", str(refusal.retry_after_s).encode()))
    for k, v in (extra or {}).items():
        headers.append((k.lower().encode("latin-1"), v.encode("latin-1")))
    return status, body(refusal.code, refusal.detail), headers


def error_answer(exc: BaseException) -> tuple[int, bytes, Headers]:
    """The answer for an exception out of a request: a refusal, a failing store, or a bug."""
    if isinstance(exc, Refused):
        return refusal_answer(exc)
    if isinstance(exc, STORE_ERRORS):
        log.error("store failure: %s: %s", type(exc).__name__, exc)
        return 503, body(errors.SERVICE_UNAVAILABLE, "a backing store is unavailable; retry later"), []
    log.error("unhandled error", exc_info=exc)
    return 500, body(errors.INTERNAL_ERROR, "internal error"), []


def install_handlers(app: FastAPI) -> None:
    """Exception handlers of the FastAPI routes, keyed by class (found along the MRO):
    refusals, store failures, validation and routing errors, bugs."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException

    table: list[tuple[re.Pattern[str], set[str]]] = []

    def allowed(path: str) -> set[str]:
        if not table:
            for template, ops in app.openapi()["paths"].items():
                pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
                table.append((re.compile(f"^{pattern}$"), {m.upper() for m in ops}))
        return {m for regex, ms in table if regex.match(path) for m in ms}

    def response(answer: tuple[int, bytes, Headers]) -> Response:
        status, content, headers = answer
        r = Response(content, status_code=status, media_type="application/json")
        for k, v in headers:
            r.headers.append(k.decode("latin-1"), v.decode("latin-1"))
        return r

    async def on_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, (Refused, *STORE_ERRORS)):
            log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
            return response((500, body(errors.INTERNAL_ERROR, "internal error"), []))
        return response(error_answer(exc))

    async def on_validation(request: Request, exc: RequestValidationError) -> Response:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "request"
        return response(
            refusal_answer(Refused(errors.INVALID_REQUEST, f"{where}: {first.get('msg', 'invalid')}"))
        )

    async def on_http(request: Request, exc: HTTPException) -> Response:
        code = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED}.get(
            exc.status_code, errors.INVALID_REQUEST
        )
        extra = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route matching the path only; the
            # documented operations name them all (a route left out of the document keeps
            # Starlette's answer).
            methods = allowed(request.url.path)
            if methods:
                extra["Allow"] = ", ".join(sorted(methods))
        _, content, headers = refusal_answer(Refused(code, str(exc.detail)), extra)
        return response((exc.status_code, content, headers))

    app.add_exception_handler(Refused, on_error)
    for cls in STORE_ERRORS:
        app.add_exception_handler(cls, on_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_error)

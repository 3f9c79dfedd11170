"""Who may call a route: the one bearer parser and the guards the routes depend on.

A guard runs before anything else of its route (query parameters, the body),
so a request without valid credentials is answered 401 before the relay does
any work for it. API keys are checked by the client store (an indexed lookup
of a hash prefix, then a constant-time comparison of the full hash); the
admin token by a constant-time comparison of digests.

>>> bearer(["Bearer  pmk_abc "]), bearer(["Basic x"]), bearer([])
('pmk_abc', None, None)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from fastapi import Request

from .. import errors
from ..errors import Refused
from ..stores.clients import ApiClient, admin_token_matches

if TYPE_CHECKING:
    from ..service import Relay


def bearer(values: Sequence[str]) -> str | None:
    """The token of the request's ``Authorization: Bearer <token>`` header, given every
    ``Authorization`` value of the request; None without one. More than one header is
    refused (401): a proxy and the relay could each take a different one."""
    if len(values) > 1:
        raise Refused(errors.UNAUTHORIZED, "more than one Authorization header")
    for value in values:  # the one header
        if value[:7].lower() == "bearer ":
            return value[7:].strip() or None
    return None


def client_guard(relay: Relay) -> Callable[[Request], ApiClient]:
    """The dependency of client-authenticated routes: the bearer API key must name an
    active client (401 otherwise; a failing store is 503); then no unknown query parameter."""

    def client(request: Request) -> ApiClient:
        token = bearer(request.headers.getlist("authorization"))
        if token is None:
            raise Refused(errors.UNAUTHORIZED, "missing bearer API key")
        found = relay.clients.authenticate(token)
        if found is None:
            raise Refused(errors.UNAUTHORIZED, "unknown or revoked API key")
        reject_unknown_query(request)
        return found

    return client


def admin_guard(relay: Relay) -> Callable[[Request], None]:
    """The dependency of admin routes: the admin token, compared in constant time; then no
    unknown query parameter."""

    def admin(request: Request) -> None:
        token = bearer(request.headers.getlist("authorization"))
        if token is None or not admin_token_matches(token, relay.admin_token):
            raise Refused(errors.UNAUTHORIZED, "admin token required")
        reject_unknown_query(request)

    return admin


def reject_unknown_query(request: Request) -> None:
    """A query parameter the operation does not define is a 400, not silently ignored
    (the guards call it once the credentials are checked; open routes depend on it)."""
    route = request.scope.get("route")
    known = {p.alias for p in getattr(getattr(route, "dependant", None), "query_params", ())}
    unknown = sorted(set(request.query_params.keys()) - known)
    if unknown:
        raise Refused(errors.INVALID_REQUEST, f"unknown query parameter(s): {', '.join(map(repr, unknown))}")

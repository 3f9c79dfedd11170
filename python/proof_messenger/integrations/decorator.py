"""A plain decorator for any framework: the view gets ``proof=VerifiedProof``.

    @proof_required(verifier)                       # Flask / Werkzeug / Django request objects
    def execute_transfer(request, *, proof):
        ...

    @proof_required(verifier, on_reject=lambda e: Response(e.detail, status=e.status))

The first positional argument must be the request. The body comes from
``get_body(request)`` (default: ``request.get_data()`` for Flask/Werkzeug,
``request.body`` for Django/Starlette-style objects) and the header from
``request.headers``. Coroutine functions are supported (then ``get_body`` may
return an awaitable). Without ``on_reject`` a :class:`ProofRejected` propagates.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .binding import PROOF_HEADER, acheck_request, check_request
from .verifiers import ProofRejected, Verifier


def _default_body(request: Any) -> Any:
    if hasattr(request, "get_data"):
        return request.get_data(cache=True)
    body = getattr(request, "body", b"")
    return body() if callable(body) else body


def _default_header(request: Any) -> str | None:
    headers = getattr(request, "headers", {})
    return headers.get(PROOF_HEADER)


def proof_required(
    verifier: Verifier,
    *,
    get_body: Callable[[Any], Any] = _default_body,
    get_header: Callable[[Any], str | None] = _default_header,
    on_reject: Callable[[ProofRejected], Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
                body = get_body(request)
                if inspect.isawaitable(body):
                    body = await body
                try:
                    proof = await acheck_request(verifier, bytes(body), get_header(request))
                except ProofRejected as exc:
                    if on_reject is None:
                        raise
                    return on_reject(exc)
                return await view(request, *args, proof=proof, **kwargs)

            return async_wrapper

        @functools.wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                proof = check_request(verifier, bytes(get_body(request)), get_header(request))
            except ProofRejected as exc:
                if on_reject is None:
                    raise
                return on_reject(exc)
            return view(request, *args, proof=proof, **kwargs)

        return wrapper

    return decorator

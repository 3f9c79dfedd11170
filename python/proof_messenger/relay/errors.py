"""The relay's HTTP-level error codes, defined once.

Proof verdict codes come from the core (``proof_messenger.ERROR_CODES``); this
module only adds what the *service* decides: authentication, rate limits,
request shape and challenge bookkeeping. Every code is a stable snake_case
string; docs/RELAY.md lists them.

>>> err = RelayError(UNAUTHORIZED, "missing bearer token")
>>> (err.status, err.code)
(401, 'unauthorized')
"""

from __future__ import annotations

from collections.abc import Mapping

# --- request-level codes: returned as {"error": {"code", "detail"}} -------------
UNAUTHORIZED = "unauthorized"  # 401: missing, unknown or revoked bearer credential
RATE_LIMITED = "rate_limited"  # 429 (request) or a batch item's verdict (subject limit)
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # 415
REQUEST_TIMEOUT = "request_timeout"  # 408: the body did not arrive in time
INVALID_REQUEST = "invalid_request"  # 400: a non-proof body or parameter is malformed
BATCH_TOO_LARGE = "batch_too_large"  # 413: more proofs than max_batch_count
NOT_FOUND = "not_found"  # 404
METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
ALREADY_ENROLLED = "already_enrolled"  # 409: the key is already active for the subject
SERVICE_UNAVAILABLE = "service_unavailable"  # 503: a store (Redis, SQLite) failed
INTERNAL_ERROR = "internal_error"  # 500: a bug; never for bad input
# The core's code for oversized input doubles as the 413 code of the HTTP layer.
INPUT_TOO_LARGE = "input_too_large"

# --- verdict codes the relay adds (a 200 verdict with valid=false) ---------------
CHALLENGE_UNKNOWN = "challenge_unknown"  # require_challenge is on and the nonce was never issued
CHALLENGE_BINDING_MISMATCH = (
    "challenge_binding_mismatch"  # the challenge was issued for another subject/audience
)
CHALLENGE_EXPIRED = "challenge_expired"  # the challenge's own expiry has passed
# nonce_replayed is a core code (shared with every binding), produced here.
NONCE_REPLAYED = "nonce_replayed"

HTTP_STATUS: Mapping[str, int] = {
    UNAUTHORIZED: 401,
    RATE_LIMITED: 429,
    UNSUPPORTED_MEDIA_TYPE: 415,
    REQUEST_TIMEOUT: 408,
    INVALID_REQUEST: 400,
    BATCH_TOO_LARGE: 413,
    INPUT_TOO_LARGE: 413,
    NOT_FOUND: 404,
    METHOD_NOT_ALLOWED: 405,
    ALREADY_ENROLLED: 409,
    SERVICE_UNAVAILABLE: 503,
    INTERNAL_ERROR: 500,
}

SERVICE_CODES: tuple[str, ...] = (
    UNAUTHORIZED,
    RATE_LIMITED,
    UNSUPPORTED_MEDIA_TYPE,
    REQUEST_TIMEOUT,
    INVALID_REQUEST,
    BATCH_TOO_LARGE,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    ALREADY_ENROLLED,
    SERVICE_UNAVAILABLE,
    INTERNAL_ERROR,
    CHALLENGE_UNKNOWN,
    CHALLENGE_BINDING_MISMATCH,
    CHALLENGE_EXPIRED,
)


class RelayError(Exception):
    """A request the relay refuses as a whole, rendered as an HTTP error.

    ``status`` defaults from :data:`HTTP_STATUS`; core codes that reject a
    request before any verdict (for example ``invalid_json`` on the single
    verify endpoint) are 400.
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status if status is not None else HTTP_STATUS.get(code, 400)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "detail": self.detail}}

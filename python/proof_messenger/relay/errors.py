"""The relay's own error codes, and :class:`Refused`: a request the relay refuses as a whole.

Proof verdict codes come from the core (``proof_messenger.ERROR_CODES``) and
the relay crate (``proof_messenger._core.relay.REFUSAL_CODES``: replay,
challenges, WebAuthn counters, subject rate limits); this module adds what the
*service* decides of a request: authentication, rate limits, request shape.
Every code is a stable snake_case string; docs/RELAY.md lists them. Status
codes and headers are the HTTP layer's (``relay.http.errors``): the engine and
the stores refuse with a code, a detail and, for limits, the seconds to wait.

>>> err = Refused(UNAUTHORIZED, "missing bearer token")
>>> (err.code, err.detail, err.retry_after_s)
('unauthorized', 'missing bearer token', None)
"""

from __future__ import annotations

# --- request-level codes: returned as {"error": {"code", "detail"}} -------------
UNAUTHORIZED = "unauthorized"  # missing, unknown or revoked bearer credential
RATE_LIMITED = "rate_limited"  # client or subject over its limit (also a batch line's verdict)
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
REQUEST_TIMEOUT = "request_timeout"  # the body did not arrive in time
INVALID_REQUEST = "invalid_request"  # a non-proof body or parameter is malformed
BATCH_TOO_LARGE = "batch_too_large"  # more proofs than max_batch_count
NOT_FOUND = "not_found"
FORBIDDEN = "forbidden"  # authenticated, but the resource is another client's (audit entries)
METHOD_NOT_ALLOWED = "method_not_allowed"
ALREADY_ENROLLED = "already_enrolled"  # the key or credential is already enrolled
SERVICE_UNAVAILABLE = "service_unavailable"  # a store (Redis, SQLite, the audit log) failed
OVERLOADED = "overloaded"  # the relay holds its most in-flight requests or body bytes
INTERNAL_ERROR = "internal_error"  # a bug; never for bad input
# The core's code for oversized input doubles as the relay's code for an oversized body.
INPUT_TOO_LARGE = "input_too_large"

# --- verdict codes the relay adds (a 200 verdict with valid=false): the relay crate's
# (proof_messenger._core.relay.REFUSAL_CODES; tests/test_error_codes.py keeps them equal)
CHALLENGE_UNKNOWN = "challenge_unknown"  # require_challenge is on and the nonce was never issued
CHALLENGE_BINDING_MISMATCH = "challenge_binding_mismatch"  # issued for another subject/audience
CHALLENGE_EXPIRED = "challenge_expired"  # the challenge's own expiry has passed
# nonce_replayed and counter_not_increasing are core codes (shared with every binding), produced here.
NONCE_REPLAYED = "nonce_replayed"
COUNTER_NOT_INCREASING = "counter_not_increasing"

SERVICE_CODES: tuple[str, ...] = (
    UNAUTHORIZED,
    RATE_LIMITED,
    UNSUPPORTED_MEDIA_TYPE,
    REQUEST_TIMEOUT,
    INVALID_REQUEST,
    BATCH_TOO_LARGE,
    NOT_FOUND,
    FORBIDDEN,
    METHOD_NOT_ALLOWED,
    ALREADY_ENROLLED,
    SERVICE_UNAVAILABLE,
    OVERLOADED,
    INTERNAL_ERROR,
    CHALLENGE_UNKNOWN,
    CHALLENGE_BINDING_MISMATCH,
    CHALLENGE_EXPIRED,
)


class Refused(Exception):
    """The relay refuses a request as a whole: ``code`` says why, ``detail`` for people,
    ``retry_after_s`` when waiting helps (rate limits). Core codes refuse a malformed
    proof on the single-proof endpoint (for example ``invalid_json``)."""

    def __init__(self, code: str, detail: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.retry_after_s = retry_after_s

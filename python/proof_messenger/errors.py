"""Errors with stable, machine-readable codes.

Every failure carries one of the codes in :data:`ERROR_CODES`, the same
strings the Rust core, the JavaScript package and the Relay Server use
(docs/PROTOCOL.md, "Error codes"). Match on ``error.code``, never on the
message.

>>> import proof_messenger as pm
>>> try:
...     pm.canonicalize({"amount": float("nan")})
... except pm.ProofMessengerError as e:
...     print(e.code)
non_finite_number
"""

from __future__ import annotations

from typing import Literal, get_args

ErrorCode = Literal[
    "input_too_large",
    "nesting_too_deep",
    "invalid_utf8",
    "invalid_json",
    "duplicate_key",
    "lone_surrogate",
    "non_finite_number",
    "inexact_number",
    "invalid_type",
    "missing_field",
    "unknown_field",
    "invalid_field",
    "unsupported_version",
    "unsupported_algorithm",
    "invalid_base64",
    "invalid_public_key",
    "weak_public_key",
    "untrusted_key",
    "missing_subject",
    "audience_mismatch",
    "proof_expired",
    "timestamp_in_future",
    "bad_signature",
    "nonce_replayed",
    "invalid_authenticator_data",
    "invalid_client_data",
    "invalid_attestation",
    "attestation_unsupported",
    "unsupported_cose_algorithm",
    "invalid_cose_key",
    "webauthn_type_mismatch",
    "challenge_mismatch",
    "origin_not_allowed",
    "cross_origin_not_allowed",
    "token_binding_unsupported",
    "rp_id_mismatch",
    "user_not_present",
    "user_not_verified",
    "counter_not_increasing",
]

#: Every stable error code, in documentation order.
ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)


class ProofMessengerError(ValueError):
    """Input, a key or a proof was rejected; ``code`` says why.

    A ``ValueError``, so callers that already treat bad input as such keep
    working.
    """

    code: ErrorCode
    detail: str

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    def __reduce__(self) -> tuple[type[ProofMessengerError], tuple[ErrorCode, str]]:
        return (type(self), (self.code, self.detail))

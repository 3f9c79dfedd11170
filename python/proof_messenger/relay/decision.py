"""A decision: the relay's verdict on one proof, as the event, audit and HTTP
layers see it. Built by the pipeline; never carries secrets (no signature, no
credentials).

>>> d = Decision(valid=False, code="bad_signature", detail="signature does not verify",
...              audience="bank", decided_at_ms=1, client_id="cli_1")
>>> d.verdict()["code"]
'bad_signature'
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import proof_messenger as pm

if TYPE_CHECKING:
    from proof_messenger.auditlog import Receipt


def b64url(data: bytes | None) -> str | None:
    return None if data is None else base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(slots=True)
class Decision:
    valid: bool
    code: str | None
    detail: str | None
    audience: str  # the audience the relay expected (the client's)
    decided_at_ms: int
    client_id: str | None
    subject: str | None = None
    key_id: str | None = None  # RFC 7638 thumbprint of the proof's key
    enrollment_id: str | None = None  # the registry row that vouched for the key
    nonce: str | None = None
    timestamp_ms: int | None = None
    context: dict[str, Any] | None = None  # only set when the proof is valid
    context_digest: bytes | None = None
    signed_digest: bytes | None = None  # SHA-256 of the signed payload (ties a receipt to exact bytes)
    receipt_id: str | None = None
    receipt: Receipt | None = None  # the audit log's receipt (checkpoint attached before answering)
    algorithm: str | None = None  # the proof's algorithm, when known
    # The core's result for a valid proof: the context is read from it on demand
    # (context_value, context_json), so the hot path never builds a dict it would only encode.
    result: pm.VerificationResult | None = None
    _digest_b64: str | None = None  # memo: the verdict, the event and the audit entry all print it

    def context_value(self) -> dict[str, Any] | None:
        """The verified context as a dict (``context``, or read once from ``result``)."""
        if self.context is None and self.result is not None:
            self.context = self.result.context
        return self.context

    def context_json(self) -> bytes | None:
        """The verified context's RFC 8785 canonical JSON (the bytes its digest is of)."""
        if self.result is not None:
            return self.result.canonical_context
        return None if self.context is None else pm.canonicalize(self.context)

    @property
    def context_digest_b64(self) -> str | None:
        if self._digest_b64 is None and self.context_digest is not None:
            self._digest_b64 = b64url(self.context_digest)
        return self._digest_b64

    def verdict(self, *, compact_receipt: bool = False) -> dict[str, Any]:
        """The HTTP response object for this decision (see ``Receipt.to_dict`` for ``compact_receipt``)."""
        return {
            "valid": self.valid,
            "code": self.code,
            "detail": self.detail,
            "subject": self.subject,
            "keyId": self.key_id,
            "enrollmentId": self.enrollment_id,
            "audience": self.audience,
            "nonce": self.nonce,
            "timestamp": self.timestamp_ms,
            "context": self.context_value(),
            "contextDigest": self.context_digest_b64,
            "receiptId": self.receipt_id,
            "receipt": None if self.receipt is None else self.receipt.to_dict(compact=compact_receipt),
        }

    def record(self) -> dict[str, Any]:
        """The fields an event or audit entry carries (no context)."""
        return {
            "valid": self.valid,
            "code": self.code,
            "client": self.client_id,
            "subject": self.subject,
            "keyId": self.key_id,
            "enrollmentId": self.enrollment_id,
            "audience": self.audience,
            "nonce": self.nonce,
            "proofTimestamp": self.timestamp_ms,
            "contextDigest": self.context_digest_b64,
            "signedDigest": b64url(self.signed_digest),
            "decidedAt": self.decided_at_ms,
        }

"""Binding a proof to the request it authorises: the proof's context must be
exactly the request body (same RFC 8785 canonical form), checked before the
proof is verified so that a mismatched request does not consume its nonce.

The proof travels base64url-encoded in the ``Proof-Messenger-Proof`` header;
the body is the business request itself (``{"action": "wire_transfer", ...,
"subject": "alice"}``), parsed by the core's strict JSON parser (a body with a
duplicate key or an inexact number is refused, so the service cannot act on a
different reading of the bytes than the one that was signed).

>>> import proof_messenger as pm, base64
>>> key = pm.SigningKey.generate()
>>> body = b'{"action":"wire_transfer","amount":"10.00","subject":"alice"}'
>>> proof = pm.sign({"subject": "alice", "amount": "10.00", "action": "wire_transfer"}, key, audience="api")
>>> proof_json = proof_from_header(encode_header(proof.to_json()))
>>> _ = bind(body, proof_json)  # no exception: the body is what was signed
>>> bind(body.replace(b"10.00", b"99.00"), proof_json)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
proof_messenger.integrations.verifiers.ProofRejected: context_mismatch: ...
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json

import proof_messenger as pm

from .verifiers import (
    CONTEXT_MISMATCH,
    INVALID_BODY,
    INVALID_PROOF_HEADER,
    PROOF_REQUIRED,
    ProofRejected,
    VerifiedProof,
    Verifier,
)

PROOF_HEADER = "Proof-Messenger-Proof"
MAX_HEADER_CHARS = 16 * 1024  # HTTP servers cap header size; bigger approvals belong in a relay batch


def encode_header(proof_json: bytes) -> str:
    """The header value for a proof (what a client sends)."""
    return base64.urlsafe_b64encode(proof_json).rstrip(b"=").decode("ascii")


def proof_from_header(value: str | None) -> bytes:
    if not value:
        raise ProofRejected(
            PROOF_REQUIRED, f"this endpoint requires a proof in the {PROOF_HEADER} header", 401
        )
    if len(value) > MAX_HEADER_CHARS:
        raise ProofRejected(INVALID_PROOF_HEADER, "the proof header is too large", 400)
    text = value.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        # One spelling per header: padding, "+", "/" and non-zero trailing bits decode to
        # the same bytes, so the canonical encoding of the bytes must be the text itself.
        if base64.urlsafe_b64encode(raw).rstrip(b"=") != text.encode():
            raise ValueError("not canonical unpadded base64url")
        return raw
    except (binascii.Error, ValueError):
        raise ProofRejected(
            INVALID_PROOF_HEADER, f"{PROOF_HEADER} must be unpadded base64url of the proof JSON", 400
        ) from None


def body_digest(body: bytes) -> bytes:
    """SHA-256 of the body's canonical form (the proof's context_digest if it is the signed context)."""
    try:
        return hashlib.sha256(pm.canonicalize_json(body)).digest()
    except pm.ProofMessengerError as exc:
        raise ProofRejected(INVALID_BODY, f"{exc.code}: {exc.detail}", 400) from None


def bind(body: bytes, proof_json: bytes) -> bytes:
    """Checks that the proof approves exactly ``body``; returns the body digest."""
    digest = body_digest(body)
    try:
        proof = pm.Proof.from_json(proof_json)
    except pm.ProofMessengerError as exc:
        raise ProofRejected(exc.code, exc.detail, 400) from None
    if proof.context_digest != digest:
        raise ProofRejected(CONTEXT_MISMATCH, "the proof approves a different request than this body", 403)
    return digest


def _after(verified: VerifiedProof, body: bytes, digest: bytes) -> VerifiedProof:
    # Defence in depth: the verifier must vouch for the bound context (a verdict without
    # a digest vouches for nothing), and what the endpoint reads is the body it checked.
    if verified.context_digest is None or verified.context_digest != digest:
        raise ProofRejected(CONTEXT_MISMATCH, "the verified context differs from this body", 403)
    return dataclasses.replace(verified, context=json.loads(body.decode("utf-8")))


def check_request(verifier: Verifier, body: bytes, header: str | None) -> VerifiedProof:
    """Everything a protected endpoint needs: header -> binding -> verification (nonce consumed)."""
    proof_json = proof_from_header(header)
    digest = bind(body, proof_json)
    return _after(verifier.verify(proof_json), body, digest)


async def acheck_request(verifier: Verifier, body: bytes, header: str | None) -> VerifiedProof:
    proof_json = proof_from_header(header)
    digest = bind(body, proof_json)
    return _after(await verifier.averify(proof_json), body, digest)

"""Require proof-messenger proofs in a Python service.

- :func:`require_proof` — FastAPI/Starlette dependency (``proof_messenger.integrations.fastapi``)
- :func:`proof_required` — plain decorator for other frameworks
- :class:`EmbeddedVerifier` — verify in process with the relay's pipeline and stores
- :class:`RelayVerifier` — verify through a running relay (httpx, timeouts, retries)

The proof travels in the ``Proof-Messenger-Proof`` header (base64url of the
proof JSON) and its context must be exactly the request body. docs/RELAY.md,
"Integrating a Python service", has the walk-through; examples/transfer_service.py
runs one.
"""

from typing import Any

from .binding import PROOF_HEADER, acheck_request, bind, check_request, encode_header, proof_from_header
from .decorator import proof_required
from .verifiers import (
    CONTEXT_MISMATCH,
    INVALID_BODY,
    INVALID_PROOF_HEADER,
    PROOF_REQUIRED,
    VERIFIER_UNAVAILABLE,
    EmbeddedVerifier,
    ProofRejected,
    RelayVerifier,
    VerifiedProof,
    Verifier,
)


def __getattr__(name: str) -> Any:  # FastAPI is optional for users of the decorator
    if name == "require_proof":
        from .fastapi import require_proof

        return require_proof
    raise AttributeError(name)


__all__ = [
    "CONTEXT_MISMATCH",
    "INVALID_BODY",
    "INVALID_PROOF_HEADER",
    "PROOF_HEADER",
    "PROOF_REQUIRED",
    "VERIFIER_UNAVAILABLE",
    "EmbeddedVerifier",
    "ProofRejected",
    "RelayVerifier",
    "VerifiedProof",
    "Verifier",
    "acheck_request",
    "bind",
    "check_request",
    "encode_header",
    "proof_from_header",
    "proof_required",
    "require_proof",
]

"""proof-messenger: sign the exact business action, verify it strictly.

>>> import proof_messenger as pm
>>> key = pm.SigningKey.generate()
>>> context = {"action": "wire", "amount": "50000.00", "subject": "alice"}
>>> proof = pm.sign(context, key, audience="payments-api")
>>> result = pm.verify(proof.to_json(), trusted_keys=key.verifying_key, audience="payments-api")
>>> result.valid, result.code
(True, None)

A service that verifies often configures one :class:`Verifier`:

>>> verifier = pm.Verifier("payments-api", max_age_ms=60_000, limits=pm.Limits(max_bytes=16_384))
>>> verifier.verify(proof.to_json(), trusted_keys=key.verifying_key).valid
True
"""

from ._api import VerifyOptions, now_ms, sign, verify, verify_batch
from ._core import (
    DEFAULT_MAX_AGE_MS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SKEW_MS,
    Limits,
    Proof,
    Registration,
    RelyingParty,
    SigningKey,
    VerificationResult,
    Verifier,
    VerifyingKey,
    WebAuthnCredential,
    __version__,
    canonicalize,
    canonicalize_json,
    context_digest,
    fingerprint,
    parse_proofs,
    verify_registration,
)
from .errors import ERROR_CODES, ErrorCode, ProofMessengerError

parse_proof = Proof.from_json

__all__ = [
    "DEFAULT_MAX_AGE_MS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SKEW_MS",
    "ERROR_CODES",
    "ErrorCode",
    "Limits",
    "Proof",
    "ProofMessengerError",
    "Registration",
    "RelyingParty",
    "SigningKey",
    "VerificationResult",
    "Verifier",
    "VerifyOptions",
    "VerifyingKey",
    "WebAuthnCredential",
    "__version__",
    "canonicalize",
    "canonicalize_json",
    "context_digest",
    "fingerprint",
    "now_ms",
    "parse_proof",
    "parse_proofs",
    "sign",
    "verify",
    "verify_batch",
    "verify_registration",
]

"""The clock-facing wrappers: time enters here, everything else is the core's."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import _core
from ._core import Proof, SigningKey, VerificationResult, VerifyingKey, WebAuthnCredential

#: Default maximum proof age (5 minutes), in milliseconds.
DEFAULT_MAX_AGE_MS = 300_000
#: Default tolerated clock skew (30 seconds), in milliseconds.
DEFAULT_MAX_SKEW_MS = 30_000
#: Default largest proof, in bytes.
DEFAULT_MAX_BYTES = 65_536
#: Default deepest nesting of arrays and objects in a proof.
DEFAULT_MAX_DEPTH = 32

ProofInput = bytes | bytearray | memoryview | str | Mapping[str, Any] | Proof
TrustedKey = VerifyingKey | WebAuthnCredential
TrustedKeys = TrustedKey | Iterable[TrustedKey]
Resolver = Callable[[str], Iterable[TrustedKey] | None]
Origins = str | Iterable[str]


def now_ms() -> int:
    """The current Unix time in milliseconds (the default clock)."""
    return time.time_ns() // 1_000_000


def sign(
    context: Mapping[str, Any],
    key: SigningKey,
    *,
    audience: str,
    nonce: str | None = None,
    timestamp_ms: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Proof:
    """Sign ``context`` for ``audience``.

    The nonce defaults to 32 fresh random bytes; pass a server-issued
    challenge nonce instead when the verifier hands one out. Raises
    :class:`ProofMessengerError` for contexts JSON cannot carry exactly.

    >>> import proof_messenger as pm
    >>> key = pm.SigningKey.generate()
    >>> proof = pm.sign({"action": "approve", "subject": "alice"}, key, audience="payments-api")
    >>> pm.verify(proof.to_json(), trusted_keys=key.verifying_key, audience="payments-api").valid
    True
    """
    return _core.sign(
        context,
        key,
        audience=audience,
        timestamp_ms=now_ms() if timestamp_ms is None else timestamp_ms,
        nonce=nonce,
        max_bytes=max_bytes,
        max_depth=max_depth,
    )


def verify(
    proof: ProofInput,
    *,
    audience: str,
    trusted_keys: TrustedKeys | None = None,
    resolver: Resolver | None = None,
    now_ms: int | None = None,
    max_age_ms: int = DEFAULT_MAX_AGE_MS,
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    rp_id: str | None = None,
    origins: Origins | None = None,
    require_user_verification: bool = True,
    allow_cross_origin: bool = False,
) -> VerificationResult:
    """Verify one proof; never raises for a bad proof, returns its reason.

    Give exactly one of ``trusted_keys`` (the keys you trust) or ``resolver``
    (``subject -> keys enrolled for it now``): the key inside the proof is
    never trusted by itself. Nonce uniqueness is the caller's: consume
    ``result.nonce`` in a replay store until ``result.expires_at_ms``.

    WebAuthn proofs are verified against :class:`WebAuthnCredential` objects
    among the trusted keys, under the relying party policy ``rp_id``,
    ``origins`` (exact strings), ``require_user_verification`` and
    ``allow_cross_origin``; without ``rp_id`` they are ``unsupported_algorithm``.
    A valid one reports the authenticator's new ``sign_count`` (store it) and
    its backup flags.

    >>> import proof_messenger as pm
    >>> key = pm.SigningKey.from_bytes(bytes(32))
    >>> proof = pm.sign({"subject": "alice", "amount": "10.00"}, key, audience="api", timestamp_ms=1_000)
    >>> result = pm.verify(proof, resolver=lambda s: [key.verifying_key], audience="api", now_ms=2_000)
    >>> result.valid, result.context["amount"]
    (True, '10.00')
    >>> pm.verify(proof, trusted_keys=[], audience="api", now_ms=2_000).code
    'untrusted_key'
    """
    return _core.verify(
        proof,
        audience=audience,
        now_ms=_clock(now_ms),
        trusted_keys=trusted_keys,
        resolver=resolver,
        max_age_ms=max_age_ms,
        max_skew_ms=max_skew_ms,
        max_bytes=max_bytes,
        max_depth=max_depth,
        rp_id=rp_id,
        origins=origins,
        require_user_verification=require_user_verification,
        allow_cross_origin=allow_cross_origin,
    )


def verify_batch(
    proofs: Iterable[ProofInput],
    *,
    audience: str,
    trusted_keys: TrustedKeys | None = None,
    resolver: Resolver | None = None,
    now_ms: int | None = None,
    max_age_ms: int = DEFAULT_MAX_AGE_MS,
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    rp_id: str | None = None,
    origins: Origins | None = None,
    require_user_verification: bool = True,
    allow_cross_origin: bool = False,
) -> list[VerificationResult]:
    """Verify many proofs (Ed25519 and WebAuthn, mixed) on all cores with the GIL released.

    One result per proof, in order, each exactly what :func:`verify` gives
    for it. ``resolver`` is called once per distinct subject.
    """
    return _core.verify_batch(
        proofs,
        audience=audience,
        now_ms=_clock(now_ms),
        trusted_keys=trusted_keys,
        resolver=resolver,
        max_age_ms=max_age_ms,
        max_skew_ms=max_skew_ms,
        max_bytes=max_bytes,
        max_depth=max_depth,
        rp_id=rp_id,
        origins=origins,
        require_user_verification=require_user_verification,
        allow_cross_origin=allow_cross_origin,
    )


def _clock(injected: int | None) -> int:
    return now_ms() if injected is None else injected

"""The clock-facing wrappers: time enters here, everything else is the core's.

:class:`Verifier` (native) holds a verifier's policy: audience, freshness,
input :class:`Limits` and the WebAuthn :class:`RelyingParty`. :func:`verify`
and :func:`verify_batch` build one from their keywords (:class:`VerifyOptions`,
the one list of them) and call it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from ._core import (
    DEFAULT_MAX_AGE_MS,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SKEW_MS,
    Limits,
    Proof,
    RelyingParty,
    SigningKey,
    VerificationResult,
    Verifier,
    VerifyingKey,
    WebAuthnCredential,
)
from ._core import sign as _sign

if TYPE_CHECKING:
    from typing_extensions import Unpack

ProofInput = bytes | bytearray | memoryview | str | Mapping[str, Any] | Proof
TrustedKey = VerifyingKey | WebAuthnCredential
TrustedKeys = TrustedKey | Iterable[TrustedKey]
Resolver = Callable[[str], Iterable[TrustedKey] | None]
Origins = str | Iterable[str]


class VerifyOptions(TypedDict, total=False):
    """The policy keywords of :func:`verify` and :func:`verify_batch` (defaults: the core's)."""

    max_age_ms: int  # DEFAULT_MAX_AGE_MS: how old a proof may be
    max_skew_ms: int  # DEFAULT_MAX_SKEW_MS: how far in the future its timestamp may be
    max_bytes: int  # DEFAULT_MAX_BYTES: the largest proof
    max_depth: int  # DEFAULT_MAX_DEPTH: the deepest nesting in a proof
    rp_id: str  # WebAuthn: the relying party id (without it WebAuthn proofs are unsupported_algorithm)
    origins: Origins  # WebAuthn: the exact origins allowed
    require_user_verification: bool  # WebAuthn: the UV flag must be set (default True)
    allow_cross_origin: bool  # WebAuthn: accept crossOrigin client data (default False)


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
    return _sign(
        context,
        key,
        audience=audience,
        timestamp_ms=now_ms() if timestamp_ms is None else timestamp_ms,
        nonce=nonce,
        max_bytes=max_bytes,
        max_depth=max_depth,
    )


# The default policy's verifier of recently used audiences: pm.verify(proof, audience=...)
# then costs a dict lookup, not four native constructors (a few microseconds of ~40).
_DEFAULT_VERIFIERS: dict[str, Verifier] = {}
_DEFAULT_VERIFIERS_MAX = 256


def verifier(audience: str, options: VerifyOptions) -> Verifier:
    """The :class:`Verifier` of :func:`verify`'s keywords."""
    if not options:
        found = _DEFAULT_VERIFIERS.get(audience)
        if found is None:
            if len(_DEFAULT_VERIFIERS) >= _DEFAULT_VERIFIERS_MAX:
                _DEFAULT_VERIFIERS.clear()
            found = _DEFAULT_VERIFIERS[audience] = Verifier(audience)
        return found
    unknown = set(options) - set(VerifyOptions.__annotations__)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    limits = Limits(
        max_bytes=options.get("max_bytes", DEFAULT_MAX_BYTES),
        max_depth=options.get("max_depth", DEFAULT_MAX_DEPTH),
    )
    rp_id, origins = options.get("rp_id"), options.get("origins")
    if (rp_id is None) != (origins is None):
        raise TypeError("WebAuthn proofs need both rp_id= and origins=")
    webauthn = None
    if rp_id is not None and origins is not None:
        webauthn = RelyingParty(
            rp_id,
            origins,
            require_user_verification=options.get("require_user_verification", True),
            allow_cross_origin=options.get("allow_cross_origin", False),
        )
    return Verifier(
        audience,
        max_age_ms=options.get("max_age_ms", DEFAULT_MAX_AGE_MS),
        max_skew_ms=options.get("max_skew_ms", DEFAULT_MAX_SKEW_MS),
        limits=limits,
        webauthn=webauthn,
    )


def verify(
    proof: ProofInput,
    *,
    audience: str,
    trusted_keys: TrustedKeys | None = None,
    resolver: Resolver | None = None,
    now_ms: int | None = None,
    **options: Unpack[VerifyOptions],
) -> VerificationResult:
    """Verify one proof; never raises for a bad proof, returns its reason.

    Give exactly one of ``trusted_keys`` (the keys you trust) or ``resolver``
    (``subject -> keys enrolled for it now``): the key inside the proof is
    never trusted by itself. Nonce uniqueness is the caller's: consume
    ``result.nonce`` in a replay store until ``result.expires_at_ms``.
    ``options`` are the policy (:class:`VerifyOptions`); a service that
    verifies often builds one :class:`Verifier` instead.

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
    return verifier(audience, options).verify(
        proof, trusted_keys=trusted_keys, resolver=resolver, now_ms=_clock(now_ms)
    )


def verify_batch(
    proofs: Iterable[ProofInput],
    *,
    audience: str,
    trusted_keys: TrustedKeys | None = None,
    resolver: Resolver | None = None,
    now_ms: int | None = None,
    **options: Unpack[VerifyOptions],
) -> list[VerificationResult]:
    """Verify many proofs (Ed25519 and WebAuthn, mixed) on all cores with the GIL released.

    One result per proof, in order, each exactly what :func:`verify` gives
    for it. ``resolver`` is called once per distinct subject.

    >>> import proof_messenger as pm
    >>> key = pm.SigningKey.from_bytes(bytes(32))
    >>> proofs = [pm.sign({"subject": "alice", "n": n}, key, audience="api", timestamp_ms=1) for n in (1, 2)]
    >>> [r.valid for r in pm.verify_batch(proofs, trusted_keys=key.verifying_key, audience="api", now_ms=2)]
    [True, True]
    """
    return verifier(audience, options).verify_batch(
        proofs, trusted_keys=trusted_keys, resolver=resolver, now_ms=_clock(now_ms)
    )


def _clock(injected: int | None) -> int:
    return now_ms() if injected is None else injected

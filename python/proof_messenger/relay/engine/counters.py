"""WebAuthn signature counters: after the core accepted a proof, its counter is stored.

The update is atomic (``UPDATE ... WHERE sign_count < ?``): of two proofs
with one counter, one wins, and the other's decision is
``counter_not_increasing``, as is a proof the core already found not
increasing. That means a cloned authenticator or a replayed assertion, and the
two are told apart by the nonce: the engine offers each such proof's nonce to
the replay store (``suspect_claims``), and :func:`alert` says ``replayed`` when it
was used before (any API client can resend an accepted assertion: that is not
a clone) and ``cloned`` otherwise, when the authenticator signed a fresh nonce
with an old counter. The decision stays ``counter_not_increasing`` either way;
the nonce of a fresh one is spent by it. Alerts never carry the context or the
assertion.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import proof_messenger as pm
from proof_messenger._core.relay import Claim

from ..errors import COUNTER_NOT_INCREASING
from ..stores.credentials import WebAuthnStore

log = logging.getLogger("proof_messenger.relay.webauthn")


def store_counters(store: WebAuthnStore, results: Sequence[pm.VerificationResult]) -> dict[int, str]:
    """Stores the counters of the accepted WebAuthn proofs among ``results``; returns
    ``{index: "counter_not_increasing"}`` for those that lost the atomic update."""
    lost: dict[int, str] = {}
    for k, res in enumerate(results):
        if res.algorithm != "WebAuthn" or not res.valid:
            continue
        n, cred = res.sign_count, res.credential_id
        if n is None or cred is None or n == 0:
            continue  # an authenticator without a counter (0 and 0): nothing to store
        if not store.raise_sign_count(cred, n, backup_state=res.backup_state):
            lost[k] = COUNTER_NOT_INCREASING
    return lost


def counter_failures(results: Sequence[pm.VerificationResult], lost: dict[int, str]) -> list[int]:
    """The indices of the proofs refused for their counter: by the core, or by the store."""
    return [
        k
        for k, res in enumerate(results)
        if k in lost or (not res.valid and res.algorithm == "WebAuthn" and res.code == COUNTER_NOT_INCREASING)
    ]


def suspect_claims(
    results: Sequence[pm.VerificationResult],
    suspects: Sequence[int],
    audiences: Sequence[str],
    *,
    now_ms: int,
    skew_ms: int,
) -> list[Claim]:
    """The nonce claims of the proofs refused for their counter (``audiences[n]`` is
    the client audience of ``suspects[n]``), kept as an accepted proof's would be."""
    out = []
    for k, audience in zip(suspects, audiences, strict=True):
        res = results[k]
        subject, nonce = res.subject, res.nonce
        assert subject is not None and nonce is not None  # the core verified the assertion's signature
        out.append(Claim(subject, audience, nonce, (res.expires_at_ms or now_ms) + skew_ms))
    return out


def alert(res: pm.VerificationResult, *, replayed: bool) -> None:
    """The counter alert: ``replayed`` (the nonce was used before) or ``cloned``."""
    log.warning(
        "ALERT webauthn counter_not_increasing %s subject=%s credential=%s signCount=%s (%s)",
        "replayed" if replayed else "cloned",
        res.subject,
        res.key_id,
        res.sign_count,
        "a replayed assertion: its nonce was used before"
        if replayed
        else "a fresh nonce signed with an old counter: cloned authenticator suspected",
    )

"""WebAuthn signature counters: after the core accepted a proof, its counter is stored.

The update is atomic (``UPDATE ... WHERE sign_count < ?``): of two proofs
with one counter, one wins, and the other's decision is
``counter_not_increasing``, as is a proof the core already found not
increasing. Both mean a cloned authenticator or a replayed assertion, and are
logged as an alert (never with the context or the assertion).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import proof_messenger as pm

from ..errors import COUNTER_NOT_INCREASING
from ..stores.credentials import WebAuthnStore

log = logging.getLogger("proof_messenger.relay.webauthn")


def store_counters(store: WebAuthnStore, results: Sequence[pm.VerificationResult]) -> dict[int, str]:
    """Stores the counters of the accepted WebAuthn proofs among ``results``; returns
    ``{index: "counter_not_increasing"}`` for those that lost the atomic update."""
    lost: dict[int, str] = {}
    for k, res in enumerate(results):
        if res.algorithm != "WebAuthn":
            continue
        if not res.valid:
            if res.code == COUNTER_NOT_INCREASING:
                _alert(res, res.sign_count)
            continue
        n, cred = res.sign_count, res.credential_id
        if n is None or cred is None or n == 0:
            continue  # an authenticator without a counter (0 and 0): nothing to store
        if not store.raise_sign_count(cred, n, backup_state=res.backup_state):
            lost[k] = COUNTER_NOT_INCREASING
            _alert(res, n)
    return lost


def _alert(res: pm.VerificationResult, n: int | None) -> None:
    log.warning(
        "ALERT webauthn counter_not_increasing subject=%s credential=%s signCount=%s"
        " (cloned authenticator or replayed assertion)",
        res.subject,
        res.key_id,
        n,
    )

"""What the engine trusts for a group's subjects: their enrolled keys, parsed once.

Trust comes from the registry, asked on every group (``active_keys``: a cache
that one point query proves current, so a revocation counts on the next
request), never from the proof. Parsing a key (point decompression) costs
more than the lookup and is pure, so it is done once per key, and a subject's
list is rebuilt only when the registry hands over a different record list.
WebAuthn credentials come from their store with their current counters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import proof_messenger as pm

from ..stores.credentials import WebAuthnStore
from ..stores.registry import KeyRecord

log = logging.getLogger("proof_messenger.relay.engine")

TrustedKey = pm.VerifyingKey | pm.WebAuthnCredential


class ParsedKeys:
    """Parsed :class:`~proof_messenger.VerifyingKey` s of enrolled keys (bounded)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._keys: dict[bytes, pm.VerifyingKey] = {}
        self._lists: dict[str, tuple[list[KeyRecord], list[TrustedKey]]] = {}
        self._limit = limit

    def key(self, raw: bytes) -> pm.VerifyingKey:
        vk = self._keys.get(raw)
        if vk is None:
            if len(self._keys) >= self._limit:
                self._keys.clear()
            vk = self._keys[raw] = pm.VerifyingKey.from_bytes(raw)
        return vk

    def trusted(self, enrolled: dict[str, list[KeyRecord]]) -> dict[str, list[TrustedKey]]:
        """Each subject's enrolled keys, parsed (shared lists: read them, do not change them)."""
        lists = self._lists
        if len(lists) >= self._limit:
            lists.clear()
        out: dict[str, list[TrustedKey]] = {}
        for s, recs in enrolled.items():
            memo = lists.get(s)
            if memo is None or memo[0] is not recs:
                memo = lists[s] = (recs, [self.key(r.public_key) for r in recs])
            out[s] = memo[1]
        return out


def webauthn_credentials(store: WebAuthnStore, subjects: Iterable[str]) -> dict[str, list[TrustedKey]]:
    """The active WebAuthn credentials of ``subjects``, with their stored counters."""
    out: dict[str, list[TrustedKey]] = {}
    for subject, recs in store.active(subjects).items():
        creds: list[TrustedKey] = []
        for rec in recs:
            try:
                creds.append(rec.credential())
            except pm.ProofMessengerError as exc:  # verified at registration; a damaged row
                log.error("stored WebAuthn credential %s is unusable: %s", rec.id, exc.code)
        out[subject] = creds
    return out

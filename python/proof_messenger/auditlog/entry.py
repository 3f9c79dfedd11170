"""The audit entry: what one decision puts in the log, and how a leaf is checked.

A leaf is the RFC 8785 canonical JSON of an entry object::

    {"algorithm": "Ed25519", "audience": "payments-api", "client": "cli_1",
     "decision": "accepted", "index": 41, "keyId": "...", "log": "<log id>",
     "reason": null, "receiptId": "rcpt_<log id>_41", "signedDigest": "<hex>",
     "subject": "alice", "time": 1764331200000, "v": 1}

Only digests and identifiers are stored (data minimisation). With a
:class:`~proof_messenger.auditlog.crypt.Keyring` the full context is added
as ``"sealed"``: AES-256-GCM of its canonical JSON, with the canonical JSON of
the rest of the entry as additional authenticated data. The tree commits to
the ciphertext, so auditing needs no key and decrypting is a separate,
optional step.

``index`` and ``log`` (the first 8 bytes of SHA-256 of the log's origin, hex)
make every leaf self-locating: a line moved, dropped or copied from another
log is visible without any key.

>>> rec = AuditRecord(time_ms=1, decision="rejected", reason="bad_signature", audience="bank")
>>> leaf = make_leaf(rec, index=0, log_id=log_id_of("example.com/log"))
>>> check_leaf(leaf, 0, log_id_of("example.com/log")) is None
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from proof_messenger import canonicalize
from proof_messenger._core.relay import record_entries

from .crypt import Keyring

VERSION = 1
Decision = Literal["accepted", "rejected"]


def log_id_of(origin: str) -> str:
    return hashlib.sha256(origin.encode()).digest()[:8].hex()


def receipt_id(log_id: str, index: int) -> str:
    return f"rcpt_{log_id}_{index}"


class AuditRecord(NamedTuple):
    """One decision, as the relay hands it to the log (a named tuple: the relay builds
    one per decision on its hot path, and a frozen dataclass costs ~4x more to build)."""

    time_ms: int
    decision: Decision
    reason: str | None  # the stable reason code; None when accepted
    audience: str | None
    client: str | None = None
    subject: str | None = None
    key_id: str | None = None
    algorithm: str | None = None
    signed_digest: str | None = None  # hex SHA-256 of the signed payload
    context: Mapping[str, Any] | None = None  # stored only sealed, never in clear


def make_leaf(record: AuditRecord, *, index: int, log_id: str, keyring: Keyring | None = None) -> bytes:
    """The entry ``index`` of the log ``log_id`` for ``record`` (RFC 8785 JSON), written by
    the relay's one entry writer (rust/relay/src/audit_entry.rs); with a ``keyring`` the
    record's context is sealed into it, authenticated with the rest of the entry."""
    return make_leaves([record], first_index=index, log_id=log_id, keyring=keyring)[0]


def make_leaves(
    records: Sequence[AuditRecord], *, first_index: int, log_id: str, keyring: Keyring | None = None
) -> list[bytes]:
    """:func:`make_leaf` for consecutive entries from ``first_index`` on, in one native call
    (two when contexts are sealed: the sealed context's additional data is the entry without it)."""
    entries = record_entries(list(records), first_index, log_id)
    if keyring is None or all(r.context is None for r in records):
        return entries
    sealed = [
        None if r.context is None else keyring.seal(canonicalize(dict(r.context)), aad=entry)
        for r, entry in zip(records, entries, strict=True)
    ]
    return record_entries(list(records), first_index, log_id, sealed)


def parse_leaf(leaf: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(leaf)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def check_entry(entry: Mapping[str, Any] | None, index: int, log_id: str) -> str | None:
    """Why ``entry`` (a parsed leaf, None if unparseable) cannot be entry
    ``index`` of log ``log_id``; None if it can."""
    if entry is None:
        return "not a JSON object"
    if entry.get("v") != VERSION:
        return f"unknown entry version {entry.get('v')!r}"
    if entry.get("log") != log_id:
        return f"belongs to another log ({entry.get('log')!r})"
    claimed = entry.get("index")
    if claimed != index:
        return f"claims index {claimed!r}"
    return None


def check_leaf(leaf: bytes, index: int, log_id: str) -> str | None:
    """:func:`check_entry` of the raw leaf bytes."""
    return check_entry(parse_leaf(leaf), index, log_id)


def unseal(entry: Mapping[str, Any], keyring: Keyring) -> dict[str, Any] | None:
    """The sealed context of a parsed entry (None if it has none); raises
    :class:`~proof_messenger.auditlog.crypt.SealError` if it cannot be opened."""
    sealed = entry.get("sealed")
    if sealed is None:
        return None
    public = {k: v for k, v in entry.items() if k != "sealed"}
    context: dict[str, Any] = json.loads(keyring.open(sealed, aad=canonicalize(public)))
    return context

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from proof_messenger import canonicalize

from .crypt import Keyring

VERSION = 1
Decision = Literal["accepted", "rejected"]


def log_id_of(origin: str) -> str:
    return hashlib.sha256(origin.encode()).digest()[:8].hex()


def receipt_id(log_id: str, index: int) -> str:
    return f"rcpt_{log_id}_{index}"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One decision, as the relay hands it to the log."""

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
    if record.decision not in ("accepted", "rejected"):
        raise ValueError(f"decision must be 'accepted' or 'rejected', not {record.decision!r}")
    entry: dict[str, Any] = {
        "v": VERSION,
        "index": index,
        "log": log_id,
        "receiptId": receipt_id(log_id, index),
        "time": record.time_ms,
        "client": record.client,
        "subject": record.subject,
        "keyId": record.key_id,
        "algorithm": record.algorithm,
        "audience": record.audience,
        "signedDigest": record.signed_digest,
        "decision": record.decision,
        "reason": record.reason,
    }
    if keyring is not None and record.context is not None:
        aad = canonicalize(entry)
        entry["sealed"] = keyring.seal(canonicalize(dict(record.context)), aad=aad)
    return canonicalize(entry)


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

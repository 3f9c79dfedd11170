"""The audit seam: every decision is appended to a log and gets a receipt.

:class:`AuditSink` is the interface the relay depends on. The default sink,
:class:`MerkleAuditSink`, is the tamper-evident Merkle log of
docs/AUDIT_LOG.md (``proof_messenger.auditlog``): one log per relay process
under ``<data_dir>/auditlog/<node>-<slot>`` (its own Ed25519 log key,
generated there on first start, mode 0600), group commit (one fdatasync and
one signed checkpoint for every request that waited on it), receipts with
the entry's index and leaf hash (``audit_receipt = "full"``: also its exact
bytes and a signed checkpoint covering it; by default the client fetches
those from ``GET /audit/receipts/{index}``).
Check it offline with ``proof-messenger audit verify DATA_DIR``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from proof_messenger._core import decision_entries
from proof_messenger.auditlog import (
    AuditLog,
    AuditRecord,
    FileWitness,
    HttpWitness,
    Keyring,
    Receipt,
    SignedCheckpoint,
    open_node_log,
)
from proof_messenger.auditlog.witness import Witness

from .decision import Decision

if TYPE_CHECKING:
    from .config import Config

__all__ = ["AuditSink", "MerkleAuditSink", "Receipt", "open_audit_sink", "to_record"]


class AuditSink(Protocol):
    """Where the relay records its decisions. The pipeline calls ``append_many``
    once per request group (in decision order) and keeps each returned receipt
    in its decision; the commit thread then calls ``sync`` and
    ``attach_checkpoint`` for the group before any of its requests is answered,
    so a receipt is only handed out once its entry is durable.
    Implementations must be thread-safe."""

    def append(self, decision: Decision) -> Receipt: ...
    def append_many(self, decisions: Sequence[Decision]) -> list[Receipt]: ...
    def sync(self) -> None:
        """Makes every entry appended so far durable (blocking)."""
        ...

    def attach_checkpoint(self, decisions: Sequence[Decision]) -> None:
        """After ``sync``: completes each decision's receipt with a signed checkpoint."""
        ...

    def close(self) -> None: ...


def to_record(d: Decision, *, with_context: bool = False) -> AuditRecord:
    """A relay decision as an audit log entry (identifiers and digests; the
    context only when it will be sealed)."""
    return AuditRecord(
        time_ms=d.decided_at_ms,
        decision="accepted" if d.valid else "rejected",
        reason=None if d.valid else d.code,
        audience=d.audience,
        client=d.client_id,
        subject=d.subject,
        key_id=d.key_id,
        # the core's allowlist: every proof that got as far as a key id is Ed25519
        algorithm=d.algorithm or ("Ed25519" if d.key_id is not None else None),
        signed_digest=None if d.signed_digest is None else d.signed_digest.hex(),
        context=d.context_value() if with_context else None,
    )


class MerkleAuditSink:
    """:class:`AuditSink` over one :class:`~proof_messenger.auditlog.AuditLog`."""

    def __init__(self, alog: AuditLog, *, inclusion_proof: bool = False, full_receipts: bool = True) -> None:
        self.log = alog
        self.inclusion_proof = inclusion_proof
        self.full_receipts = full_receipts
        self._seal = alog.keyring is not None

    def append(self, decision: Decision) -> Receipt:
        return self.append_many([decision])[0]

    def append_many(self, decisions: Sequence[Decision]) -> list[Receipt]:
        if not self._seal:
            # The group's entries in one native call (the bytes make_leaf writes for
            # to_record(d), tested so); a value it refuses: the Python writer names it.
            group = list(decisions)
            try:
                return self.log.append_entries(lambda first, log_id: decision_entries(group, first, log_id))
            except (ValueError, TypeError, OverflowError):
                pass
        return self.log.append_many([to_record(d, with_context=self._seal) for d in decisions])

    def sync(self) -> None:
        self.log.sync()  # durable; the checkpoint is signed when asked for (attach_checkpoint, readers)

    def attach_checkpoint(self, decisions: Sequence[Decision]) -> None:
        if not self.full_receipts:
            return  # compact receipts: the client fetches the checkpoint (GET /audit/receipts/{index})
        cp = self.log.latest
        for d in decisions:
            r = d.receipt
            if r is None or r.index >= cp.size:
                continue
            proof = tuple(self.log.inclusion_proof(r.index, cp.size)) if self.inclusion_proof else None
            # (direct construction: dataclasses.replace costs ~10 µs per response on the hot path)
            d.receipt = Receipt(r.receipt_id, r.origin, r.index, r.leaf_hash, r.entry, cp.note, proof)

    def checkpoint(self) -> SignedCheckpoint:
        """On demand: commits, persists and pushes a checkpoint to the witnesses."""
        return self.log.checkpoint()

    def close(self) -> None:
        self.log.close()


def open_audit_sink(config: Config, data_dir: Path | None = None) -> MerkleAuditSink:
    """This process's log under ``<data_dir>/auditlog`` (a free ``<node>-<slot>``)."""
    data_dir = data_dir or config.data_dir
    if config.audit_encryption_key_file is not None:
        keyring: Keyring | None = Keyring.from_file(config.audit_encryption_key_file)
    else:
        keyring = Keyring.from_env()  # PROOF_MESSENGER_AUDIT_KEY
    witnesses: list[Witness] = []
    if config.audit_witness_file is not None:
        witnesses.append(FileWitness(config.audit_witness_file))
    if config.audit_witness_url:
        witnesses.append(HttpWitness(config.audit_witness_url))
    alog = open_node_log(
        data_dir / "auditlog",
        node=config.audit_node,
        origin_prefix=config.audit_origin_prefix,
        key_path=config.audit_key_file,
        keyring=keyring,
        checkpoint_interval=config.audit_checkpoint_interval_s,
        witnesses=witnesses,
        fsync=config.audit_fsync,
    )
    return MerkleAuditSink(
        alog, inclusion_proof=config.audit_inclusion_proof, full_receipts=config.audit_receipt == "full"
    )

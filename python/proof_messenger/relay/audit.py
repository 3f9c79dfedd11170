"""The audit seam: every decision is appended to a log and gets a receipt.

:class:`AuditSink` is the interface the engine depends on. The default sink,
:class:`MerkleAuditSink`, is the tamper-evident Merkle log of
docs/AUDIT_LOG.md (``proof_messenger.auditlog``): one log per relay process
under ``<data_dir>/auditlog/<node>-<slot>`` (its own Ed25519 log key,
generated there on first start, mode 0600), group commit (one fdatasync for
every request that waited on it), receipts with the entry's index, leaf
hash and a signed checkpoint covering it (``audit_receipt = "full"``: also its exact
bytes; by default the client fetches those from ``GET /audit/receipts/{index}``).
Check it offline with ``proof-messenger audit verify DATA_DIR``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from proof_messenger._core import relay as native
from proof_messenger._core.relay import Decision
from proof_messenger.auditlog import (
    AuditLog,
    FileWitness,
    HttpWitness,
    Keyring,
    SignedCheckpoint,
    open_node_log,
)
from proof_messenger.auditlog.note import Signer
from proof_messenger.auditlog.witness import Witness

if TYPE_CHECKING:
    from .config import Config

__all__ = ["AuditSink", "MerkleAuditSink", "open_audit_sink"]


class AuditSink(Protocol):
    """Where the relay records its decisions. The engine calls ``append`` once per
    request group (in decision order: it attaches each decision's receipt), then
    ``sync`` and ``complete`` before any of the group's requests is answered, so a
    receipt is only handed out once its entry is durable. Thread-safe."""

    def append(self, decisions: Sequence[Decision]) -> None: ...
    def sync(self) -> None:
        """Makes every entry appended so far durable (blocking)."""
        ...

    def complete(self, decisions: Sequence[Decision]) -> None:
        """After ``sync``: receipts get a signed checkpoint covering their entries."""
        ...

    def close(self) -> None: ...


class MerkleAuditSink:
    """:class:`AuditSink` over one :class:`~proof_messenger.auditlog.AuditLog`."""

    def __init__(self, alog: AuditLog, *, inclusion_proof: bool = False, full_receipts: bool = True) -> None:
        self.log = alog
        self.inclusion_proof = inclusion_proof
        self.full_receipts = full_receipts

    def append(self, decisions: Sequence[Decision]) -> None:
        if not decisions:
            return
        group = list(decisions)
        keyring = self.log.keyring

        def entries(first: int, log_id: str) -> list[bytes]:
            unsealed = native.audit_entries(group, first, log_id)
            if keyring is None:
                return unsealed
            # A sealed context is authenticated with the rest of its entry (the unsealed form).
            sealed = [
                None if (context := d.context_json()) is None else keyring.seal(context, aad=entry)
                for d, entry in zip(group, unsealed, strict=True)
            ]
            return native.audit_entries(group, first, log_id, sealed)

        appended = self.log.append_group(entries)
        native.attach_receipts(
            group, self.log.log_id, self.log.origin, appended.first, appended.leaf_hashes, appended.entries
        )

    def sync(self) -> None:
        self.log.sync()  # durable; the checkpoint is signed when asked for (complete, readers)

    def complete(self, decisions: Sequence[Decision]) -> None:
        if not decisions:
            return
        # Every receipt, compact too, carries a signed checkpoint covering its entry (signed
        # once per group, lazily): the client then holds the log's signature over its entry,
        # which a later rewrite of the log cannot reproduce (docs/AUDIT_LOG.md).
        cp = self.log.latest
        proofs: list[list[bytes] | None] | None = None
        if self.full_receipts and self.inclusion_proof:
            proofs = [
                None
                if (i := d.receipt_index) is None or i >= cp.size
                else self.log.inclusion_proof(i, cp.size)
                for d in decisions
            ]
        native.complete_receipts(list(decisions), cp.note, cp.size, proofs)

    def checkpoint(self) -> SignedCheckpoint:
        """On demand: commits, persists and pushes a checkpoint to the witnesses."""
        return self.log.checkpoint()

    def close(self) -> None:
        self.log.close()


def tamper_warnings(config: Config) -> list[str]:
    """What the configured audit log does not protect against (docs/AUDIT_LOG.md,
    "Who can rewrite the log"): said at start and by ``/readyz``."""
    out = []
    if config.audit_witness_file is None and not config.audit_witness_url:
        out.append(
            "no audit witness (audit_witness_url, audit_witness_file): whoever holds the data"
            " directory and the log key can rewrite the log and re-sign it undetected"
        )
    key = config.audit_key_file  # (with_log_key also fills audit_log_key from it: the file decides)
    in_data_dir = (
        config.audit_log_key is None
        if key is None
        else key.resolve().is_relative_to(config.data_dir.resolve())
    )
    if in_data_dir:
        out.append(
            "the audit log key is inside the data directory: set audit_key_file to a path outside"
            " it or PROOF_MESSENGER_AUDIT_LOG_KEY (next step: a key in an HSM or KMS)"
        )
    return out


def with_log_key(config: Config) -> Config:
    """The configuration holding the log key itself (``audit_log_key``), read from
    ``audit_key_file`` now: the relay calls this before it drops root, so the key file
    can be readable by root only, out of the service user's (and the data directory
    holder's) reach. Raises OSError or ValueError for an unreadable or invalid key."""
    if config.audit_log_key is None and config.audit_key_file is not None:
        config = dataclasses.replace(config, audit_log_key=config.audit_key_file.read_text())
    if config.audit_log_key is not None:
        Signer.from_pem("check", config.audit_log_key.encode())  # fail at start, in one line
    return config


def open_audit_sink(config: Config, data_dir: Path | None = None) -> MerkleAuditSink:
    """This process's log under ``<data_dir>/auditlog`` (a free ``<node>-<slot>``)."""
    data_dir = data_dir or config.data_dir
    if config.audit_encryption_key_file is not None:
        keyring: Keyring | None = Keyring.from_file(config.audit_encryption_key_file)
    else:
        keyring = Keyring.from_env()  # PROOF_MESSENGER_AUDIT_KEY
    log_key = with_log_key(config).audit_log_key
    witnesses: list[Witness] = []
    if config.audit_witness_file is not None:
        witnesses.append(FileWitness(config.audit_witness_file))
    if config.audit_witness_url:
        witnesses.append(HttpWitness(config.audit_witness_url))
    alog = open_node_log(
        data_dir / "auditlog",
        node=config.audit_node,
        origin_prefix=config.audit_origin_prefix,
        key_pem=None if log_key is None else log_key.encode(),
        keyring=keyring,
        checkpoint_interval=config.audit_checkpoint_interval_s,
        witnesses=witnesses,
        fsync=config.audit_fsync,
    )
    return MerkleAuditSink(
        alog, inclusion_proof=config.audit_inclusion_proof, full_receipts=config.audit_receipt == "full"
    )

"""A verifiable audit log of relay decisions: an RFC 6962 Merkle log with
C2SP signed checkpoints, receipts, witnesses and an offline auditor.

See docs/AUDIT_LOG.md. Modules, one job each: ``merkle`` (tree hashes and
proofs), ``note`` (signed notes, checkpoints), ``entry`` (the leaf format),
``crypt`` (AES-256-GCM of contexts at rest), ``store`` (append-only files and
crash recovery), ``log`` (the log: group commit, checkpoints, receipts),
``witness`` (anchoring), ``auditor`` (offline verification), ``cli``.
"""

from .auditor import LogReport, audit_data_dir, audit_log, verify_receipt
from .crypt import Keyring
from .entry import AuditRecord
from .log import AuditLog, LogBusy, LogFailed, Receipt, SignedCheckpoint, open_node_log
from .note import Checkpoint, Signer, Verifier
from .store import LogCorrupted
from .witness import FileWitness, HttpWitness

__all__ = [
    "AuditLog",
    "AuditRecord",
    "Checkpoint",
    "FileWitness",
    "HttpWitness",
    "Keyring",
    "LogBusy",
    "LogCorrupted",
    "LogFailed",
    "LogReport",
    "Receipt",
    "SignedCheckpoint",
    "Signer",
    "Verifier",
    "audit_data_dir",
    "audit_log",
    "open_node_log",
    "verify_receipt",
]

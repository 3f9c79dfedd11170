"""The audit log: append decisions, group-commit them, sign checkpoints, hand out receipts.

One :class:`AuditLog` owns one directory, exclusively (an ``flock`` lease on
``LOCK``): one writer per log. Several relay processes on a host, or several
hosts, each run their own log with their own key and origin line
(:func:`open_node_log` leases ``<root>/<node>-<slot>``); the auditor checks
every log it finds, each against its own key.

Write path::

    append_many(records)  ->  leaves written (page cache), pending receipts
    commit()              ->  commit marker, ONE fdatasync, sign checkpoint
                              (concurrent callers share it: group commit)

Only after ``commit()`` returns may the caller answer: the entry is durable
and a signed checkpoint covers it. A checkpoint is signed for every commit
(cheap next to the fsync) and *persisted* to ``checkpoints`` (and pushed to
witnesses) off the request path: every ``checkpoint_interval`` seconds by a
background thread when the log grew, on :meth:`AuditLog.checkpoint` (on
demand) and on close.

A log never signs a tree it could lose: checkpoints cover only fsynced
entries, and after a crash the files are cut back to the last commit (never
below the last persisted checkpoint: then the log refuses to open).

Files: ``log.json`` (origin, log id), ``log.key`` (the Ed25519 log key, PKCS#8
PEM, mode 0600, unless a key file is configured), ``log.pub`` (its vkey), and
the store's files (``store.py``).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with AuditLog.open(d / "log", origin="example.com/audit/0") as alog:
...     r = alog.append(AuditRecord(time_ms=1, decision="accepted", reason=None, audience="bank"))
>>> r.index, r.checkpoint.splitlines()[:2]
(0, ['example.com/audit/0', '1'])
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from . import merkle
from .crypt import Keyring
from .entry import AuditRecord, check_leaf, log_id_of, make_leaves, receipt_id
from .note import Checkpoint, NoteError, Signer, open_checkpoint, sign_note
from .store import LogCorrupted, LogStore, Recovery
from .witness import Pushed, Witness, WitnessPusher

META = "log.json"
KEY = "log.key"
PUB = "log.pub"
LOCK = "LOCK"
FORMAT = 1
log = logging.getLogger("proof_messenger.auditlog")

__all__ = [
    "AppendedGroup",
    "AuditLog",
    "AuditRecord",
    "LogBusy",
    "LogFailed",
    "Receipt",
    "SignedCheckpoint",
    "open_node_log",
]


class LogBusy(RuntimeError):
    """Another process holds this log."""


class LogFailed(RuntimeError):
    """A write or sync failed; the log refuses further work until reopened
    (after a failed fsync the page cache can no longer be trusted)."""


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    note: str
    size: int
    root: bytes


class AppendedGroup(NamedTuple):
    """Consecutive entries just appended: the first one's index, their leaf hashes and bytes."""

    first: int
    leaf_hashes: list[bytes]
    entries: list[bytes]


class Receipt(NamedTuple):
    """Proof that an entry was logged: its index, leaf hash and exact bytes,
    and (once committed) a signed checkpoint covering it, with the inclusion
    proof (optional: it can be fetched later from the log). A compact receipt
    (what a verdict carries by default) has no ``entry``: its leaf hash pins it.
    (A named tuple: the relay makes one per decision, and a frozen dataclass
    costs 3x more to build.) The ``index`` field shadows ``tuple.index``, which a
    receipt has no use for."""

    receipt_id: str
    origin: str
    index: int  # type: ignore[assignment]
    leaf_hash: bytes
    entry: bytes | None
    checkpoint: str | None = None
    inclusion_proof: tuple[bytes, ...] | None = None

    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """The JSON form, members in the relay's order. ``compact``: the id, origin,
        index, leaf hash and signed checkpoint, which pin the entry under the log's
        signature; the full receipt of that index (entry, proof) comes from the log
        (``GET /audit/receipts/{index}``) and must match the leaf hash."""
        out: dict[str, Any] = {
            "receiptId": self.receipt_id,
            "origin": self.origin,
            "index": self.index,
            "leafHash": base64.b64encode(self.leaf_hash).decode(),
            "checkpoint": self.checkpoint,
        }
        if compact:
            return out
        if self.entry is None:
            raise ValueError("a compact receipt has no full form: fetch the entry from the log")
        out["entry"] = self.entry.decode()
        out["inclusionProof"] = (
            None
            if self.inclusion_proof is None
            else [base64.b64encode(h).decode() for h in self.inclusion_proof]
        )
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Receipt:
        """A receipt of :meth:`to_dict`'s forms, read strictly: every member has its one
        type, and a member this format does not define is refused rather than ignored (an
        auditor must not be shown a field nothing checked). Without ``entry`` it is a
        compact receipt, which then has no ``inclusionProof`` either."""
        unknown = set(d) - _RECEIPT_MEMBERS
        if unknown:
            raise ValueError(f"unknown receipt member(s): {', '.join(sorted(map(str, unknown)))}")
        index = d["index"]
        if type(index) is not int or index < 0:
            raise ValueError("index must be a non-negative integer")
        proof = d.get("inclusionProof")
        if proof is not None and not isinstance(proof, list):
            raise ValueError("inclusionProof must be a list of base64 hashes or null")
        checkpoint = d.get("checkpoint")
        if checkpoint is not None and not isinstance(checkpoint, str):
            raise ValueError("checkpoint must be a signed note or null")
        leaf_hash = base64.b64decode(_text(d, "leafHash"), validate=True)
        if len(leaf_hash) != merkle.HASH_SIZE:
            raise ValueError(f"leafHash must be {merkle.HASH_SIZE} bytes")
        entry = _text(d, "entry").encode() if "entry" in d else None
        if entry is None and "inclusionProof" in d:
            raise ValueError("a compact receipt (no entry) has no inclusionProof")
        return cls(
            receipt_id=_text(d, "receiptId"),
            origin=_text(d, "origin"),
            index=index,
            leaf_hash=leaf_hash,
            entry=entry,
            checkpoint=checkpoint,
            inclusion_proof=None
            if proof is None
            else tuple(base64.b64decode(h, validate=True) for h in proof),
        )


_RECEIPT_MEMBERS = frozenset(
    {"receiptId", "origin", "index", "leafHash", "entry", "checkpoint", "inclusionProof"}
)


def _text(d: Mapping[str, Any], name: str) -> str:
    value = d[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    return value


def _write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_meta(directory: Path) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((directory / META).read_text())
    return meta


class AuditLog:
    """A verifiable, append-only log of decisions (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        signer: Signer,
        store: LogStore,
        lock_fd: int,
        keyring: Keyring | None,
        checkpoint_interval: float,
        witnesses: Sequence[Witness],
    ) -> None:
        self.directory = directory
        self.origin = signer.name
        self.log_id = log_id_of(self.origin)
        self.signer = signer
        self.verifier = signer.verifier
        self.keyring = keyring
        self.checkpoint_interval = checkpoint_interval
        self._store = store
        self._lock_fd = lock_fd
        self._lock = threading.Lock()  # writers: append, marker
        self._cv = threading.Condition()  # commit coordination
        self._committing = False
        self._failed: BaseException | None = None
        self._closed = False
        empty = self._sign(0, store.root(0))
        self._latest = empty  # the newest signed checkpoint (signed lazily: see ``latest``)
        self._durable: tuple[int, bytes] = (0, empty.root)  # (size, root) last fsynced
        self._sign_lock = threading.Lock()
        self._persisted = empty
        self._persist_lock = threading.Lock()
        self.recovery: Recovery | None = None
        self._pusher = WitnessPusher(witnesses, self.consistency_proof)
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- opening ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        directory: str | Path,
        *,
        origin: str | None = None,
        key_path: str | Path | None = None,
        key_pem: bytes | None = None,
        keyring: Keyring | None = None,
        checkpoint_interval: float = 1.0,
        witnesses: Sequence[Witness] = (),
        fsync: bool = True,
        background: bool = True,
    ) -> AuditLog:
        """Opens (creating if needed) the log in ``directory``, recovers it
        after a crash and signs a checkpoint of what it holds.

        ``origin`` names a new log (default ``<hostname>/proof-messenger/audit/<dir name>``);
        an existing log keeps the origin it was created with. ``key_path`` is
        a PKCS#8 PEM Ed25519 key (``key_pem``: its contents, e.g. from the environment);
        without either the log generates ``log.key``.
        """
        if key_path is not None and key_pem is not None:
            raise ValueError("give key_path or key_pem, not both")
        if key_path:
            key_pem = Path(key_path).read_bytes()
        directory = Path(directory)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            raise LogBusy(f"{directory} is in use by another process") from None
        try:
            # Who holds the lease, for the auditor's "is this log live?" (it never takes the lock).
            os.ftruncate(lock_fd, 0)
            os.pwrite(lock_fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
            signer = cls._identity(directory, origin, key_pem)
            mac_key = hashlib.sha256(b"proof-messenger audit commit key\x00" + signer.secret_bytes()).digest()
            store = LogStore(directory, mac_key=mac_key, fsync=fsync)
            alog = cls(
                directory,
                signer=signer,
                store=store,
                lock_fd=lock_fd,
                keyring=keyring,
                checkpoint_interval=checkpoint_interval,
                witnesses=witnesses,
            )
            try:
                alog._recover()
            except BaseException:
                alog._pusher.close()
                store.close()
                raise
        except BaseException:
            os.close(lock_fd)
            raise
        if background and checkpoint_interval > 0:
            alog._ticker = threading.Thread(target=alog._tick, name="audit-checkpoint", daemon=True)
            alog._ticker.start()
        return alog

    @staticmethod
    def _identity(directory: Path, origin: str | None, key_pem: bytes | None) -> Signer:
        meta_path = directory / META
        if meta_path.exists():
            meta = read_meta(directory)
            if meta.get("format") != FORMAT:
                raise ValueError(f"{meta_path}: unknown log format {meta.get('format')!r}")
            if origin is not None and origin != meta["origin"]:
                log.warning(
                    "audit log %s keeps its origin %r (configured: %r)", directory, meta["origin"], origin
                )
            origin = str(meta["origin"])
            signer = Signer.from_pem(origin, key_pem or (directory / KEY).read_bytes())
            if meta.get("vkey") != signer.verifier.vkey:
                raise ValueError(f"{directory}: the log key does not match the key this log was created with")
            return signer
        origin = origin or f"{socket.gethostname()}/proof-messenger/audit/{directory.name}"
        if key_pem:
            signer = Signer.from_pem(origin, key_pem)
        else:
            signer = Signer.generate(origin)
            _write_atomic(directory / KEY, signer.to_pem())
        vkey = signer.verifier.vkey
        _write_atomic(directory / PUB, (vkey + "\n").encode(), 0o644)
        meta = {"format": FORMAT, "origin": origin, "logId": log_id_of(origin), "vkey": vkey}
        _write_atomic(directory / META, json.dumps(meta, indent=1).encode() + b"\n", 0o644)
        return signer

    def _recover(self) -> None:
        def valid(note: str) -> bool:
            try:
                return open_checkpoint(note, [self.verifier]).origin == self.origin
            except NoteError:
                return False

        last = self._store.last_checkpoint(valid)
        cp = open_checkpoint(last, [self.verifier]) if last else None
        self.recovery = self._store.recover(
            watermark=cp.size if cp else 0,
            watermark_root=cp.root_hash if cp else None,
            accept_leaf=lambda i, leaf: check_leaf(leaf, i, self.log_id) is None,
        )
        if cp is not None and last is not None:
            self._persisted = self._latest = SignedCheckpoint(last, cp.size, cp.root_hash)
            self._durable = (cp.size, cp.root_hash)
        # Sign and persist what survived, so the checkpoint history covers it.
        self.checkpoint()

    # --- writing ----------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise LogFailed(f"audit log {self.directory} failed earlier: {self._failed}") from self._failed
        if self._closed:
            raise LogFailed(f"audit log {self.directory} is closed")

    def append_many(self, records: Sequence[AuditRecord]) -> list[Receipt]:
        """Writes the records in order; they are durable only after :meth:`commit`."""
        if not records:
            return []
        return self.append_entries(
            lambda first, log_id: make_leaves(records, first_index=first, log_id=log_id, keyring=self.keyring)
        )

    def append_entries(self, write: Callable[[int, str], list[bytes]]) -> list[Receipt]:
        """Appends entries whose bytes the caller writes: ``write(first_index, log_id)``
        returns consecutive entries from ``first_index`` on, each as :func:`make_leaf`
        writes its record (the relay writes its decisions' entries with the same writer).
        Called under the log's lock; if it raises, nothing is appended."""
        group = self.append_group(write)
        return [
            Receipt(receipt_id(self.log_id, group.first + k), self.origin, group.first + k, h, leaf)
            for k, (h, leaf) in enumerate(zip(group.leaf_hashes, group.entries, strict=True))
        ]

    def append_group(self, write: Callable[[int, str], list[bytes]]) -> AppendedGroup:
        """:meth:`append_entries` without a :class:`Receipt` per entry: the relay attaches
        a group's receipts to its decisions natively."""
        with self._lock:
            self._check_usable()
            first = self._store.size
            leaves = write(first, self.log_id)
            if not leaves:
                return AppendedGroup(first, [], [])
            try:
                hashes = self._store.append(leaves)
            except BaseException as exc:
                self._failed = exc
                raise
        return AppendedGroup(first, hashes, leaves)

    def commit(self, *, persist: bool = False) -> SignedCheckpoint:
        """Makes everything appended before the call durable and returns a
        signed checkpoint covering it. Concurrent callers share one fsync.
        ``persist`` also stores the checkpoint and pushes it to the witnesses."""
        self.sync()
        cp = self.latest
        if persist:
            self._persist()
        return cp

    def sync(self) -> None:
        """Makes everything appended before the call durable (the relay's
        ``AuditSink.sync``). Concurrent callers share one fsync. Signing waits
        until a checkpoint is asked for (:attr:`latest`): a busy relay signs
        once per reader or ticker interval, not once per group commit."""
        target = self._store.size
        with self._cv:
            while True:
                self._check_usable()
                if self._durable[0] >= target:
                    return
                if not self._committing:
                    self._committing = True
                    self._lead_commit()
                    return
                self._cv.wait()

    def _lead_commit(self) -> None:
        """The group commit itself, run by one caller while the others wait (called holding
        ``_cv``, which it releases around the I/O)."""
        self._cv.release()
        try:
            with self._lock:
                size, root = self._store.mark_commit()
            self._store.sync()
        except BaseException as exc:
            self._failed = exc
            raise
        finally:
            self._cv.acquire()
            self._committing = False
            self._cv.notify_all()
        self._durable = (size, root)

    def _sign(self, size: int, root: bytes) -> SignedCheckpoint:
        note = sign_note(Checkpoint(self.origin, size, root).to_text(), self.signer)
        return SignedCheckpoint(note, size, root)

    def _persist(self) -> None:
        """Stores the latest checkpoint (off the request path: the ticker and
        :meth:`checkpoint` call this) and hands it to the witnesses."""
        with self._persist_lock:
            cp = self.latest
            if cp.size <= self._persisted.size:
                return
            try:
                self._store.sync_caches()  # the persisted checkpoint is the caches' recovery watermark
                self._store.append_checkpoint(cp.note)
            except BaseException as exc:
                self._failed = exc
                raise
            self._persisted = cp
        self._pusher.submit(Pushed(cp.note, cp.size))

    def append(self, record: AuditRecord, *, proof: bool = True) -> Receipt:
        """Appends one record, commits, and returns its complete receipt."""
        pending = self.append_many([record])[0]
        cp = self.commit()
        return self.receipt(pending.index, checkpoint=cp, proof=proof)

    def checkpoint(self) -> SignedCheckpoint:
        """On demand: commits, persists and pushes a checkpoint of everything appended."""
        return self.commit(persist=True)

    def _tick(self) -> None:
        while not self._stop.wait(self.checkpoint_interval):
            try:
                if self._store.size > self._persisted.size:
                    self.checkpoint()  # commits stragglers too
            except LogFailed:
                return
            except Exception:
                log.exception("audit log %s: periodic checkpoint failed", self.directory)

    # --- reading ----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Entries appended (committed or not)."""
        return self._store.size

    @property
    def latest(self) -> SignedCheckpoint:
        """The newest signed checkpoint; covers every committed (fsynced) entry. The
        log never signs a size that is not on disk, so it can never sign a fork."""
        size, root = self._durable
        if self._latest.size < size:
            with self._sign_lock:
                size, root = self._durable
                if self._latest.size < size:
                    self._latest = self._sign(size, root)
        return self._latest

    def persisted_checkpoints(self) -> list[str]:
        return self._store.checkpoint_notes()

    def _committed(self, size: int) -> None:
        latest = self.latest.size
        if size > latest:
            raise ValueError(f"size {size} is beyond the latest checkpoint ({latest})")

    def entry(self, index: int) -> bytes:
        self._committed(index + 1)
        return self._store.leaf(index)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._committed(size)
        proof = self._store.inclusion_proof(index, size)
        # Serve nothing the cache cannot back: a damaged tree.bin fails here, not at the client.
        try:
            leaf = merkle.leaf_hash(self._store.leaf(index))
            merkle.verify_inclusion(leaf, index, size, proof, self._root(size))
        except merkle.ProofError:
            raise LogCorrupted(
                f"{self.directory}: tree.bin is damaged (delete it to rebuild on open)"
            ) from None
        return proof

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        self._committed(new_size)
        proof = self._store.consistency_proof(old_size, new_size)
        try:
            merkle.verify_consistency(old_size, new_size, proof, self._root(old_size), self._root(new_size))
        except merkle.ProofError:
            raise LogCorrupted(
                f"{self.directory}: tree.bin is damaged (delete it to rebuild on open)"
            ) from None
        return proof

    def _root(self, size: int) -> bytes:
        latest = self.latest
        return latest.root if size == latest.size else self._store.root(size)

    def receipt(
        self, index: int, *, checkpoint: SignedCheckpoint | None = None, proof: bool = True
    ) -> Receipt:
        """The receipt of a committed entry against ``checkpoint`` (default: the latest)."""
        cp = checkpoint or self.latest
        if not 0 <= index < cp.size:
            raise ValueError(f"entry {index} is not covered by the checkpoint of size {cp.size}")
        self._committed(cp.size)
        entry = self._store.leaf(index)
        return Receipt(
            receipt_id=receipt_id(self.log_id, index),
            origin=self.origin,
            index=index,
            leaf_hash=merkle.leaf_hash(entry),
            entry=entry,
            checkpoint=cp.note,
            inclusion_proof=tuple(self.inclusion_proof(index, cp.size)) if proof else None,
        )

    # --- closing ----------------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        if self._failed is None:
            with contextlib.suppress(Exception):
                self.checkpoint()
        self._closed = True
        self._pusher.close()
        with self._cv:  # wait out a commit in flight
            self._cv.wait_for(lambda: not self._committing, timeout=10)
        with self._lock:  # and an append
            self._store.close()
        os.ftruncate(self._lock_fd, 0)  # no holder any more
        os.close(self._lock_fd)  # releases the lease

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_node_log(
    root: str | Path,
    *,
    node: str | None = None,
    origin_prefix: str = "proof-messenger",
    max_slots: int = 64,
    **options: Any,
) -> AuditLog:
    """Leases the first free log ``<root>/<node>-<slot>``: each process on a host gets its
    own log and key, and keeps it across restarts as long as it is the only one running
    with that slot.

    A new log's origin is ``<origin_prefix>/<node>-<slot>`` when ``node`` is given (the
    operator names the nodes: keep them unique), else ``<origin_prefix>/<host>-<8 random
    hex>-<slot>``: two relays on one host with separate data directories must not sign
    checkpoints under one origin, which witnesses would take for a fork. An existing log
    keeps the origin it was created with."""
    explicit = node is not None
    node = node or socket.gethostname()
    for slot in range(max_slots):
        name = f"{node}-{slot}"
        directory = Path(root) / name
        if explicit:
            origin: str | None = f"{origin_prefix}/{name}"
        elif (directory / META).exists():
            origin = None  # the stored one
        else:
            origin = f"{origin_prefix}/{node}-{secrets.token_hex(4)}-{slot}"
        try:
            return AuditLog.open(directory, origin=origin, **options)
        except LogBusy:
            continue
    raise LogBusy(f"all {max_slots} audit log slots under {root} are in use")

"""Append-only files of one log, crash recovery included.

Files in the log directory:

``entries.jsonl``
    The truth. One line per leaf (the entry's canonical JSON; the leaf is the
    line without its newline), and after each group commit a *commit marker*
    line ``{"commit":{"mac":...,"root":...,"size":n}}``: the tree size and root
    at that point, authenticated with an HMAC under a key only the log holds
    (derived from the log's private key). Markers are not leaves.
``index.bin``
    16 bytes per leaf, ``offset || length`` (big-endian u64) of its line: O(1)
    lookup of entry ``i``.
``tree.bin``
    Every complete subtree hash, 32 bytes each, in the order they complete
    (post-order, :func:`merkle.node_position`): 2n hashes for n leaves, and any
    proof reads O(log n) of them.
``checkpoints``
    Signed checkpoints persisted by the log (notes, each followed by a blank line).

Durability. ``sync()`` fdatasyncs ``entries.jsonl`` only: the group commit
writes a marker, syncs once, and only then may the log sign a checkpoint or
answer. ``index.bin`` and ``tree.bin`` are caches of the entries, synced only
before a checkpoint is persisted; the latest persisted checkpoint is therefore
a *watermark* up to which they are durable and, through its signed root,
verifiable in O(log n).

Recovery (:meth:`LogStore.recover`) keeps the caches up to the watermark
(after checking the tree against the signed root; if that fails it rebuilds
them from the entries), then replays the entries after it: leaves must pass
the log's check, markers must carry the right size, root and MAC. The file is
cut back to the last valid commit marker. Everything after it was never
acknowledged: a torn last write, entries whose commit never became durable,
or lines an intruder appended while the log was down. They are dropped with a
warning, never adopted. A log whose entries no longer reach its watermark, or
disagree with its signed root, refuses to open (:class:`LogCorrupted`).

Not thread-safe: :class:`~proof_messenger.auditlog.log.AuditLog` serialises
writers; reads of committed positions may run concurrently with appends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import merkle
from .note import SIG_PREFIX, split_notes

ENTRIES = "entries.jsonl"
INDEX = "index.bin"
TREE = "tree.bin"
CHECKPOINTS = "checkpoints"
MARKER_PREFIX = b'{"commit":'
_IDX = struct.Struct(">QQ")
_H = merkle.HASH_SIZE
SIG_PREFIX_BYTES = SIG_PREFIX.encode()
# Nodes 64+ leaves wide are few (n/64) and on every proof's path: keep them in memory.
_CACHE_LEVEL = 6
_CACHE_MAX = 1 << 19
log = logging.getLogger("proof_messenger.auditlog")


class LogCorrupted(RuntimeError):
    """The files contradict the log's own signed checkpoint: do not append, audit."""


@dataclass(frozen=True, slots=True)
class Recovery:
    size: int  # leaves after recovery
    replayed: int  # leaves re-indexed after the watermark
    dropped_leaves: int  # uncommitted leaves cut off the tail
    dropped_bytes: int
    rebuilt: bool  # index and tree were rebuilt from the entries


def commit_mac(key: bytes, size: int, root: bytes) -> str:
    tag = hmac.new(key, b"proof-messenger audit commit\x00" + size.to_bytes(8, "big") + root, hashlib.sha256)
    return base64.b64encode(tag.digest()[:16]).decode()


def marker_line(key: bytes, size: int, root: bytes) -> bytes:
    mac = commit_mac(key, size, root)
    return b'{"commit":{"mac":"%s","root":"%s","size":%d}}\n' % (
        mac.encode(),
        base64.b64encode(root),
        size,
    )


def parse_marker(line: bytes) -> tuple[int, bytes, str] | None:
    """``(size, root, mac)`` of a well-formed marker line (without newline), else None."""
    try:
        body = json.loads(line)["commit"]
        size, root, mac = body["size"], base64.b64decode(body["root"], validate=True), body["mac"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(size, int) or isinstance(size, bool) or len(root) != _H or not isinstance(mac, str):
        return None
    return size, root, mac


def iter_lines(fd: int, start: int, *, chunk: int = 1 << 20) -> Iterator[tuple[int, bytes, bool]]:
    """``(offset, line without newline, complete)`` from ``start`` to EOF; the
    last item may be an incomplete line (``complete=False``)."""
    pos, buf = start, b""
    while True:
        data = os.pread(fd, chunk, pos + len(buf))
        if not data:
            break
        buf += data
        cut = 0
        while True:
            nl = buf.find(b"\n", cut)
            if nl < 0:
                break
            yield pos + cut, buf[cut:nl], True
            cut = nl + 1
        pos += cut
        buf = buf[cut:]
    if buf:
        yield pos, buf, False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_leaf(directory: Path, index: int) -> bytes:
    """Entry ``index`` of a log directory, read without opening the log (an auditor's
    read: the index cache locates it, so the caller must check it against a leaf hash)."""
    with (directory / INDEX).open("rb") as fh:
        fh.seek(index * _IDX.size)
        record = fh.read(_IDX.size)
    if len(record) != _IDX.size:
        raise ValueError(f"the log holds no entry {index}")
    offset, length = _IDX.unpack(record)
    with (directory / ENTRIES).open("rb") as fh:
        fh.seek(offset)
        return fh.read(length)


class LogStore:
    """The append-only files of one log (see the module docstring)."""

    def __init__(self, directory: Path, *, mac_key: bytes, fsync: bool = True) -> None:
        self.directory = directory
        self.fsync = fsync
        self._mac_key = mac_key
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND
        self._entries = os.open(directory / ENTRIES, flags, 0o600)
        self._index = os.open(directory / INDEX, flags, 0o600)
        self._tree = os.open(directory / TREE, flags, 0o600)
        self._checkpoints = os.open(directory / CHECKPOINTS, flags, 0o600)
        self._builder = merkle.TreeBuilder()
        self._end = 0  # entries.jsonl length
        self._marked = -1  # size of the last commit marker written
        self._nodes: dict[tuple[int, int], bytes] = {}  # upper tree levels, read through

    # --- reading ----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._builder.size

    def node(self, level: int, index: int) -> bytes:
        cached = level >= _CACHE_LEVEL
        if cached:
            h = self._nodes.get((level, index))
            if h is not None:
                return h
        pos = merkle.node_position(level, index) * _H
        h = os.pread(self._tree, _H, pos)
        if len(h) != _H:
            raise LogCorrupted(f"tree.bin has no node at level {level} index {index}")
        if cached and len(self._nodes) < _CACHE_MAX:
            self._nodes[(level, index)] = h  # complete subtrees never change
        return h

    def root(self, size: int | None = None) -> bytes:
        if size is None or size == self.size:
            return self._builder.root()
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} is beyond the log ({self.size})")
        return merkle.root_hash(self.node, size)

    def leaf(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise IndexError(f"no entry {index} (log size {self.size})")
        off, length = _IDX.unpack(os.pread(self._index, _IDX.size, index * _IDX.size))
        return os.pread(self._entries, length, off)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_size(size)
        return merkle.inclusion_proof(self.node, index, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        self._check_size(new_size)
        return merkle.consistency_proof(self.node, old_size, new_size)

    def _check_size(self, size: int) -> None:
        if size > self.size:
            raise ValueError(f"size {size} is beyond the log ({self.size})")

    # --- writing ----------------------------------------------------------------------------

    def append(self, leaves: Sequence[bytes]) -> list[bytes]:
        """Writes ``leaves`` (not yet durable); returns their leaf hashes."""
        if not leaves:
            return []
        if any(b"\n" in leaf for leaf in leaves):
            raise ValueError("a leaf must not contain a newline")
        sizes = (self._end, os.fstat(self._index).st_size, os.fstat(self._tree).st_size)
        builder = self._builder
        state = builder.state()
        hashes, nodes = builder.extend(leaves)
        bounds: list[int] = []
        off = self._end
        for leaf in leaves:
            bounds += (off, len(leaf))
            off += len(leaf) + 1
        index = struct.pack(f">{len(bounds)}Q", *bounds)  # _IDX per leaf
        data = b"\n".join(leaves) + b"\n"
        try:
            _write_all(self._entries, data)
            _write_all(self._index, index)
            _write_all(self._tree, nodes)
        except BaseException:
            # Disk full or similar: leave no half-written batch behind.
            for fd, size in zip((self._entries, self._index, self._tree), sizes, strict=True):
                os.ftruncate(fd, size)
            builder.restore(state)
            raise
        self._end = off
        return hashes

    def mark_commit(self) -> tuple[int, bytes]:
        """Writes a commit marker for the current size (if new); returns ``(size, root)``."""
        size, root = self.size, self._builder.root()
        if size != self._marked:
            line = marker_line(self._mac_key, size, root)
            try:
                _write_all(self._entries, line)
            except BaseException:
                os.ftruncate(self._entries, self._end)
                raise
            self._end += len(line)
            self._marked = size
        return size, root

    def sync(self) -> None:
        """Makes everything written to ``entries.jsonl`` durable."""
        if self.fsync:
            os.fdatasync(self._entries)

    def sync_caches(self) -> None:
        if self.fsync:
            os.fdatasync(self._index)
            os.fdatasync(self._tree)

    def append_checkpoint(self, note: str) -> None:
        _write_all(self._checkpoints, note.encode() + b"\n")
        if self.fsync:
            os.fdatasync(self._checkpoints)

    def checkpoint_notes(self) -> list[str]:
        """Every persisted checkpoint note, oldest first (complete records only)."""
        data = self._read_all(self._checkpoints).decode("utf-8", "surrogateescape")
        return split_notes(data, strict=True)[0]

    def last_checkpoint(self, valid: Callable[[str], bool]) -> str | None:
        """The last persisted checkpoint. A torn or invalid last record (a crash
        while persisting) is cut off; earlier records are the auditor's business."""
        size = os.fstat(self._checkpoints).st_size
        start = max(0, size - 65536)  # a record is < 1 KiB: the tail holds the last ones
        raw = os.pread(self._checkpoints, size - start, start)
        if start:
            # Resynchronise on a record end: a blank line not followed by a signature line.
            i = 0
            while True:
                i = raw.find(b"\n\n", i)
                if i < 0:
                    return None
                if not raw.startswith(SIG_PREFIX_BYTES, i + 2):
                    break
                i += 2
            start, raw = start + i + 2, raw[i + 2 :]
        notes, _ = split_notes(raw.decode("utf-8", "surrogateescape"), strict=True)
        ends = []
        pos = 0
        for n in notes:
            pos += len(n.encode("utf-8", "surrogateescape")) + 1
            ends.append(pos)
        while notes and not valid(notes[-1]):
            log.warning("audit log %s: dropping an invalid last checkpoint record", self.directory)
            notes.pop()
            ends.pop()
        cut = start + (ends[-1] if ends else 0)
        if cut < size:
            log.warning(
                "audit log %s: cutting %d bytes of a torn checkpoint record", self.directory, size - cut
            )
            os.ftruncate(self._checkpoints, cut)
        return notes[-1] if notes else None

    def _read_all(self, fd: int) -> bytes:
        return os.pread(fd, os.fstat(fd).st_size, 0)

    # --- recovery ---------------------------------------------------------------------------

    def recover(
        self, *, watermark: int, watermark_root: bytes | None, accept_leaf: Callable[[int, bytes], bool]
    ) -> Recovery:
        """Brings the caches in line with the entries and cuts uncommitted lines (see module doc)."""
        start, begin = 0, 0
        if (
            watermark
            and watermark_root is not None
            and self._caches_reach(watermark, watermark_root, accept_leaf)
        ):
            start = watermark
            off, length = _IDX.unpack(os.pread(self._index, _IDX.size, (watermark - 1) * _IDX.size))
            begin = off + length + 1
        rebuilt = watermark > 0 and start == 0
        if rebuilt:
            log.warning(
                "audit log %s: index/tree do not match the last checkpoint; rebuilding", self.directory
            )
        os.ftruncate(self._index, start * _IDX.size)
        os.ftruncate(self._tree, merkle.node_count(start) * _H)
        self._nodes.clear()  # whatever the check above read may be gone now
        builder = merkle.TreeBuilder.resume(self.node, start)
        commit_size, commit_end = start, begin
        root_at_watermark = watermark_root if start else None
        index, nodes = bytearray(), bytearray()
        for off, line, complete in iter_lines(self._entries, begin):
            if not complete:
                break
            if line.startswith(MARKER_PREFIX):
                marker = parse_marker(line)
                if marker is None or marker[0] != builder.size or marker[1] != builder.root():
                    break
                if not hmac.compare_digest(marker[2], commit_mac(self._mac_key, marker[0], marker[1])):
                    break
                commit_size, commit_end = builder.size, off + len(line) + 1
                continue
            if not accept_leaf(builder.size, line):
                break
            for n in builder.append(merkle.leaf_hash(line)):
                nodes += n
            index += _IDX.pack(off, len(line))
            if builder.size == watermark:
                root_at_watermark = builder.root()
                # The signed checkpoint itself proves this prefix was committed.
                if root_at_watermark == watermark_root:
                    commit_size, commit_end = builder.size, off + len(line) + 1
            if len(nodes) > 1 << 23:
                _write_all(self._index, bytes(index))
                _write_all(self._tree, bytes(nodes))
                index, nodes = bytearray(), bytearray()
        _write_all(self._index, bytes(index))
        _write_all(self._tree, bytes(nodes))
        scanned = builder.size
        if watermark and (commit_size < watermark or root_at_watermark != watermark_root):
            raise LogCorrupted(
                f"{self.directory}: entry {commit_size} onwards does not reproduce the signed checkpoint"
                f" at size {watermark}; run `proof-messenger audit verify {self.directory}` to see"
                " the first bad entry, and restore the log from a backup"
            )
        file_size = os.fstat(self._entries).st_size
        dropped_bytes = file_size - commit_end
        if dropped_bytes:
            log.warning(
                "audit log %s: cutting %d uncommitted entries (%d bytes) after entry %d: never acknowledged",
                self.directory,
                scanned - commit_size,
                dropped_bytes,
                commit_size,
            )
            os.ftruncate(self._entries, commit_end)
        os.ftruncate(self._index, commit_size * _IDX.size)
        os.ftruncate(self._tree, merkle.node_count(commit_size) * _H)
        if self.fsync:
            os.fsync(self._entries)
            os.fsync(self._index)
            os.fsync(self._tree)
        self._nodes.clear()
        self._builder = merkle.TreeBuilder.resume(self.node, commit_size)
        self._end = commit_end
        self._marked = commit_size
        return Recovery(commit_size, commit_size - start, scanned - commit_size, dropped_bytes, rebuilt)

    def _caches_reach(self, size: int, root: bytes, accept_leaf: Callable[[int, bytes], bool]) -> bool:
        """Whether index.bin and tree.bin cover ``size`` leaves and agree with
        the signed root (O(log n) reads)."""
        if os.fstat(self._index).st_size < size * _IDX.size:
            return False
        if os.fstat(self._tree).st_size < merkle.node_count(size) * _H:
            return False
        off, length = _IDX.unpack(os.pread(self._index, _IDX.size, (size - 1) * _IDX.size))
        line = os.pread(self._entries, length + 1, off)
        if len(line) != length + 1 or not line.endswith(b"\n") or not accept_leaf(size - 1, line[:-1]):
            return False
        if merkle.leaf_hash(line[:-1]) != self.node(0, size - 1):
            return False
        return merkle.root_hash(self.node, size) == root

    def close(self) -> None:
        for fd in (self._entries, self._index, self._tree, self._checkpoints):
            os.close(fd)

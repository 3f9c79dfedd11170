"""The audit seam: every decision is appended to a log and gets a receipt.

:class:`AuditSink` is the interface the relay depends on. The default sink,
:class:`JsonlAuditLog`, is deliberately simple but real: an append-only
JSON-lines file where each entry carries the SHA-256 of its predecessor (a
hash chain, so editing or dropping an entry breaks every later hash), written
under an exclusive ``flock`` (several processes may share a data directory)
and fsynced once per batch of appends (group commit, :class:`GroupCommit`).
A later issue replaces it with a Merkle-tree log behind the same interface.

Entry hash: ``sha256(RFC 8785 canonical form of the entry without "hash")``,
where the entry holds ``seq``, ``prev`` (the previous hash, 64 zeros first)
and the decision's record; each line is that canonical form with ``"hash"``
appended as the last member. The receipt id is ``rcpt_<seq>_<hash[:16]>``.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from proof_messenger import canonicalize

from .decision import Decision

GENESIS = "0" * 64
log = logging.getLogger("proof_messenger.relay.audit")


@dataclass(frozen=True, slots=True)
class Receipt:
    id: str
    seq: int
    hash: str


class AuditSink(Protocol):
    """Where the relay records its decisions. The pipeline calls ``append_many``
    once per request group (in decision order) and puts each returned receipt's
    ``id`` into the verdict; the HTTP layer then awaits ``sync`` (through
    :class:`GroupCommit`) before it answers, so a receipt is only handed out
    once its entry is durable. Implementations must be thread-safe."""

    def append(self, decision: Decision) -> Receipt: ...
    def append_many(self, decisions: Sequence[Decision]) -> list[Receipt]: ...
    def sync(self) -> None:
        """Makes every entry appended so far durable (blocking)."""
        ...

    def close(self) -> None: ...


_canonical = canonicalize  # RFC 8785, by the core


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(_canonical(body)).hexdigest()


class AuditChainError(ValueError):
    pass


def iter_entries(path: Path) -> Iterator[dict[str, Any]]:
    import json

    with path.open("rb") as fh:
        for line in fh:
            if line.endswith(b"\n"):
                yield json.loads(line)


def verify_chain(path: Path) -> int:
    """Checks every hash and link of an audit file; returns the entry count."""
    prev, n = GENESIS, 0
    for n, entry in enumerate(iter_entries(path), start=1):
        if entry.get("seq") != n or entry.get("prev") != prev:
            raise AuditChainError(f"entry {n}: broken link")
        if entry_hash(entry) != entry.get("hash"):
            raise AuditChainError(f"entry {n}: hash mismatch")
        prev = entry["hash"]
    return n


class JsonlAuditLog:
    """Append-only, hash-chained JSON lines in ``<data_dir>/audit/decisions.jsonl``."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._lock = threading.Lock()
        self._size = -1  # file size after our last write; -1 = re-read the tail
        self._seq = 0
        self._prev = GENESIS
        self._dirty = False

    def append(self, decision: Decision) -> Receipt:
        return self.append_many([decision])[0]

    def append_many(self, decisions: Sequence[Decision]) -> list[Receipt]:
        """Appends in order with one ``write``; one receipt per decision."""
        if not decisions:
            return []
        receipts: list[Receipt] = []
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                self._catch_up()
                lines = []
                seq, prev = self._seq, self._prev
                for d in decisions:
                    seq += 1
                    body = _canonical({"seq": seq, "prev": prev, **d.record()})
                    prev = hashlib.sha256(body).hexdigest()
                    # the stored line is the hashed body with "hash" appended as its last member
                    lines.append(body[:-1] + b',"hash":"' + prev.encode("ascii") + b'"}')
                    receipts.append(Receipt(f"rcpt_{seq}_{prev[:16]}", seq, prev))
                data = b"\n".join(lines) + b"\n"
                written = os.write(self._fd, data)
                if written != len(data):  # disk full: do not leave a torn entry behind
                    os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
                    raise OSError("short write to the audit log")
                self._seq, self._prev = seq, prev
                self._size = os.fstat(self._fd).st_size
                self._dirty = True
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        return receipts

    def _catch_up(self) -> None:
        """Reads the chain head if another process appended since our last write."""
        size = os.fstat(self._fd).st_size
        if size == self._size:
            return
        tail = self._read_tail(size)
        if tail is None:
            self._seq, self._prev = 0, GENESIS
        else:
            import json

            entry = json.loads(tail)
            self._seq, self._prev = int(entry["seq"]), str(entry["hash"])
        self._size = os.fstat(self._fd).st_size

    def _read_tail(self, size: int) -> bytes | None:
        if size == 0:
            return None
        buf = b""
        pos = size
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            buf = os.pread(self._fd, step, pos) + buf
            if not buf.endswith(b"\n"):
                # A torn last line (crash or power loss mid-write): it was never
                # acknowledged as durable, so cut it off before appending.
                cut = buf.rfind(b"\n")
                if cut < 0 and pos > 0:
                    continue
                new_size = pos + cut + 1
                log.warning(
                    "audit log %s: truncating a torn last entry (%d bytes)", self.path, size - new_size
                )
                os.ftruncate(self._fd, new_size)
                return self._read_tail(new_size)
            start = buf.rfind(b"\n", 0, len(buf) - 1)
            if start >= 0:
                return buf[start + 1 : -1]
        return buf[:-1] if buf else None

    def sync(self) -> None:
        if self.fsync and self._dirty:
            self._dirty = False
            try:
                os.fdatasync(self._fd)
            except OSError:
                self._dirty = True
                raise

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                self.sync()
                os.close(self._fd)
                self._fd = -1


class GroupCommit:
    """Coalesces concurrent ``await sync()`` calls into as few blocking syncs as possible.

    ``await sync()`` returns once a sync that *started after the call* has
    finished, so everything appended before the call is durable. Callers that
    arrive while a sync runs share the next one: under load one fsync covers
    many requests. Single event loop only.
    """

    def __init__(self, sync: Callable[[], None]) -> None:
        self._sync = sync
        self._started = 0
        self._done = 0
        self._running = False
        self._waiters: list[asyncio.Future[None]] = []

    async def sync(self) -> None:
        target = self._started + 1
        while self._done < target:
            if self._running:
                fut = asyncio.get_running_loop().create_future()
                self._waiters.append(fut)
                await fut
                continue
            self._running = True
            self._started += 1
            started = self._started
            error: BaseException | None = None
            try:
                await asyncio.to_thread(self._sync)
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._running = False
                self._done = started
                waiters, self._waiters = self._waiters, []
                for fut in waiters:
                    if fut.done():
                        continue
                    if error is None:
                        fut.set_result(None)
                    else:  # everyone who relied on this sync learns it failed
                        fut.set_exception(OSError(f"audit sync failed: {error}"))


def open_audit_log(data_dir: Path, *, fsync: bool = True) -> JsonlAuditLog:
    return JsonlAuditLog(data_dir / "audit" / "decisions.jsonl", fsync=fsync)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m proof_messenger.relay.audit [FILE | --data-dir DIR]``: check the hash chain."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m proof_messenger.relay.audit",
        description="Check the hash chain of the relay's JSON-lines audit log.",
    )
    parser.add_argument("file", nargs="?", help="audit file (default <data-dir>/audit/decisions.jsonl)")
    parser.add_argument("--data-dir", default="data")
    args = parser.parse_args(None if argv is None else list(argv))
    path = Path(args.file) if args.file else Path(args.data_dir) / "audit" / "decisions.jsonl"
    try:
        n = verify_chain(path)
    except FileNotFoundError:
        print(f"no audit log at {path}", file=sys.stderr)
        return 2
    except AuditChainError as exc:
        print(f"{path}: BROKEN: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: {n} entries, hash chain intact")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

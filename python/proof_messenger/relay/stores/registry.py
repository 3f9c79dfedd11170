"""The key registry: which public keys may sign for which subject, and when.

A proof is only as trustworthy as this table: the relay accepts a proof's key
only if it is enrolled for ``context["subject"]``, not revoked and inside its
validity window *now* — never because the proof carries it. Revocation is a
row update that the next request sees: lookups go through a cache that a
change counter, kept by triggers on the table, proves current on every call.

>>> from proof_messenger.relay.stores.db import SqliteDatabase
>>> reg = SqlKeyRegistry(SqliteDatabase(":memory:"))
>>> rec = reg.enroll("alice", b"\\x01" * 32, key_id="kid-1", now_ms=1000)
>>> [r.key_id for r in reg.active_keys(["alice"], now_ms=2000)["alice"]]
['kid-1']
>>> reg.revoke(rec.id, now_ms=3000).revoked_at_ms
3000
>>> reg.active_keys(["alice"], now_ms=4000)
{}
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from .db import Database, query_in

# SQL text here interpolates only constant column lists and "?" placeholders (S608 noqa);
# every value is a bound parameter.


class AlreadyEnrolled(Exception):
    """The key is already enrolled (and not revoked) for the subject."""

    def __init__(self, existing: KeyRecord) -> None:
        super().__init__(f"key {existing.key_id} is already enrolled for this subject as {existing.id}")
        self.existing = existing


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str  # enrollment id, used by the admin API
    subject: str
    key_id: str  # RFC 7638 thumbprint of the key (what a verdict reports)
    public_key: bytes  # raw 32-byte Ed25519 key
    label: str | None
    not_before_ms: int | None
    not_after_ms: int | None
    created_at_ms: int
    revoked_at_ms: int | None

    def active_at(self, now_ms: int) -> bool:
        return (
            self.revoked_at_ms is None
            and (self.not_before_ms is None or self.not_before_ms <= now_ms)
            and (self.not_after_ms is None or now_ms < self.not_after_ms)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "keyId": self.key_id,
            "publicKey": base64.b64encode(self.public_key).decode("ascii"),
            "label": self.label,
            "notBefore": self.not_before_ms,
            "notAfter": self.not_after_ms,
            "createdAt": self.created_at_ms,
            "revokedAt": self.revoked_at_ms,
        }


class KeyRegistry(Protocol):
    """Storage of enrolled keys. Implementations must be thread-safe."""

    def enroll(
        self,
        subject: str,
        public_key: bytes,
        *,
        key_id: str,
        label: str | None = None,
        not_before_ms: int | None = None,
        not_after_ms: int | None = None,
        now_ms: int,
    ) -> KeyRecord: ...

    def get(self, enrollment_id: str) -> KeyRecord | None: ...

    def list_keys(
        self, *, subject: str | None = None, include_revoked: bool = False, limit: int = 100, offset: int = 0
    ) -> list[KeyRecord]: ...

    def revoke(self, enrollment_id: str, *, now_ms: int) -> KeyRecord | None: ...

    def active_keys(self, subjects: Iterable[str], *, now_ms: int) -> dict[str, list[KeyRecord]]:
        """Keys valid at ``now_ms`` for each subject that has any (one query). The lists
        are the caller's to read, not to change (an implementation may share them)."""
        ...

    def ping(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS pm_keys (
    id            TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    public_key    BLOB NOT NULL,
    label         TEXT,
    not_before_ms BIGINT,
    not_after_ms  BIGINT,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX IF NOT EXISTS pm_keys_subject ON pm_keys (subject);
CREATE UNIQUE INDEX IF NOT EXISTS pm_keys_active ON pm_keys (subject, key_id) WHERE revoked_at_ms IS NULL;
CREATE TABLE IF NOT EXISTS pm_keys_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO pm_keys_version (id, n) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TRIGGER IF NOT EXISTS pm_keys_inserted AFTER INSERT ON pm_keys
    BEGIN UPDATE pm_keys_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS pm_keys_updated AFTER UPDATE ON pm_keys
    BEGIN UPDATE pm_keys_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS pm_keys_deleted AFTER DELETE ON pm_keys
    BEGIN UPDATE pm_keys_version SET n = n + 1 WHERE id = 1; END;
"""

_COLUMNS = "id, subject, key_id, public_key, label, not_before_ms, not_after_ms, created_at_ms, revoked_at_ms"


def _record(row: Any) -> KeyRecord:
    return KeyRecord(row[0], row[1], row[2], bytes(row[3]), row[4], row[5], row[6], row[7], row[8])


class SqlKeyRegistry:
    """:class:`KeyRegistry` over plain SQL (SQLite here; PostgreSQL needs its own
    trigger syntax for ``pm_keys_version``, the rest is portable)."""

    CACHE_SUBJECTS = 100_000

    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(_SCHEMA)
        # Unrevoked enrollments by subject, as last read. Valid while pm_keys_version.n,
        # which triggers raise on every write to pm_keys (from any connection, process
        # or hand-written SQL), has not changed.
        # Per subject: its records, and whether none has a validity window (then every
        # call returns the cached list itself, and callers may memoise on its identity).
        self._cache: dict[str, tuple[list[KeyRecord], bool]] = {}
        self._cache_version: int | None = None
        self._cache_lock = threading.Lock()

    def enroll(
        self,
        subject: str,
        public_key: bytes,
        *,
        key_id: str,
        label: str | None = None,
        not_before_ms: int | None = None,
        not_after_ms: int | None = None,
        now_ms: int,
    ) -> KeyRecord:
        rec = KeyRecord(
            "key_" + secrets.token_hex(10),
            subject,
            key_id,
            bytes(public_key),
            label,
            not_before_ms,
            not_after_ms,
            now_ms,
            None,
        )
        with self.db.transaction() as tx:
            row = tx.execute(
                f"SELECT {_COLUMNS} FROM pm_keys WHERE subject = ? AND key_id = ? AND revoked_at_ms IS NULL",  # noqa: S608
                (subject, key_id),
            ).fetchone()
            if row is not None:
                raise AlreadyEnrolled(_record(row))
            tx.execute(
                f"INSERT INTO pm_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                (
                    rec.id,
                    rec.subject,
                    rec.key_id,
                    rec.public_key,
                    rec.label,
                    rec.not_before_ms,
                    rec.not_after_ms,
                    rec.created_at_ms,
                    None,
                ),
            )
        return rec

    def get(self, enrollment_id: str) -> KeyRecord | None:
        row = self.db.query_one(f"SELECT {_COLUMNS} FROM pm_keys WHERE id = ?", (enrollment_id,))  # noqa: S608
        return None if row is None else _record(row)

    def list_keys(
        self, *, subject: str | None = None, include_revoked: bool = False, limit: int = 100, offset: int = 0
    ) -> list[KeyRecord]:
        where, params = [], []
        if subject is not None:
            where.append("subject = ?")
            params.append(subject)
        if not include_revoked:
            where.append("revoked_at_ms IS NULL")
        sql = f"SELECT {_COLUMNS} FROM pm_keys"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at_ms, id LIMIT ? OFFSET ?"
        return [_record(r) for r in self.db.query_all(sql, (*params, limit, offset))]

    def revoke(self, enrollment_id: str, *, now_ms: int) -> KeyRecord | None:
        # Idempotent: the first revocation time is kept.
        self.db.execute(
            "UPDATE pm_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL",
            (now_ms, enrollment_id),
        )
        return self.get(enrollment_id)

    def active_keys(self, subjects: Iterable[str], *, now_ms: int) -> dict[str, list[KeyRecord]]:
        """The keys enrolled for each subject and valid at ``now_ms``.

        Read through a cache that one point query per call proves current: the table's
        triggers count every write, so an enrollment or revocation made anywhere is seen
        by the next call (as with a full query per call), while a busy relay stops
        reading the same rows for every request group."""
        wanted = list(dict.fromkeys(subjects))
        with self._cache_lock:
            version = int(self.db.query_one("SELECT n FROM pm_keys_version WHERE id = 1")[0])
            if version != self._cache_version or len(self._cache) > self.CACHE_SUBJECTS:
                self._cache.clear()
                self._cache_version = version
            cache = self._cache
            missing = [s for s in wanted if s not in cache]
            if missing:
                found: dict[str, list[KeyRecord]] = {s: [] for s in missing}
                sql = f"SELECT {_COLUMNS} FROM pm_keys WHERE subject IN ({{marks}}) AND revoked_at_ms IS NULL"  # noqa: S608
                for row in query_in(self.db, sql, missing):
                    rec = _record(row)
                    found[rec.subject].append(rec)
                for s, recs in found.items():
                    cache[s] = (recs, all(r.not_before_ms is None and r.not_after_ms is None for r in recs))
            out: dict[str, list[KeyRecord]] = {}
            for s in wanted:
                recs, unbounded = cache[s]
                if not unbounded:
                    recs = [r for r in recs if r.active_at(now_ms)]
                if recs:
                    out[s] = recs  # the cached list itself when no window applies: do not mutate
            return out

    def ping(self) -> None:
        self.db.query_one("SELECT 1 FROM pm_keys LIMIT 1")

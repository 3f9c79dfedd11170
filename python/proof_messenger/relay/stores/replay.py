"""Replay protection: one-time nonces and server-issued challenges.

A nonce is accepted at most once within its window: :meth:`ReplayStore.consume`
records ``(subject, nonce)`` atomically (SQLite: an append-only claim table
and an in-memory index of it, inside one write transaction; Redis: ``SET NX
PX`` inside a Lua script) and reports
``nonce_replayed`` for every later attempt until the record expires — when
the proof it came with is too old to pass the freshness check anyway.

A challenge is a nonce the relay issued for one subject and audience. A proof
carrying it must name the same subject and audience; consuming it and
recording the nonce happen in the same atomic step.

>>> from proof_messenger.relay.stores.db import SqliteDatabase
>>> store = SqlReplayStore(SqliteDatabase(":memory:"))
>>> claim = Claim(subject="alice", audience="bank", nonce="bm9uY2Utbm9uY2Utbm9uY2U", expires_at_ms=10_000)
>>> store.consume([claim, claim], now_ms=1_000)
[None, 'nonce_replayed']
>>> ch = store.issue_challenge("bob", "bank", ttl_ms=5_000, now_ms=1_000)
>>> store.consume([Claim("mallory", "bank", ch.nonce, 10_000)], now_ms=2_000)
['challenge_binding_mismatch']
>>> store.consume([Claim("bob", "bank", ch.nonce, 10_000)], now_ms=2_000)
[None]
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# Claim: one proof's claim on a nonce, kept until ``expires_at_ms`` (subject, audience,
# nonce, expires_at_ms). Native (rust/relay/src/claims.rs): the engine builds a group's
# claims in one call (``relay.claims``), and ``Claim.keys`` computes their claim keys.
from proof_messenger._core import DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS
from proof_messenger._core.relay import Claim, NonceIndex, claim_key

from .. import errors
from .db import Database

# SQL text here interpolates only constant column lists and "?" placeholders (S608 noqa);
# every value is a bound parameter.

# Expired challenges stay known as long as a proof made before the expiry can still pass
# the freshness check (max_age + max_skew), so that a late proof is told "challenge_expired"
# rather than taken for one carrying a client nonce. The relay passes its configured
# window; this default matches the core's default window.
DEFAULT_CHALLENGE_RETENTION_MS = DEFAULT_MAX_AGE_MS + DEFAULT_MAX_SKEW_MS


__all__ = [
    "Challenge",
    "Claim",
    "RedisReplayStore",
    "ReplayStore",
    "SqlReplayStore",
    "claim_key",
    "new_nonce",
]


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: str
    subject: str
    audience: str
    expires_at_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "nonce": self.nonce,
            "subject": self.subject,
            "audience": self.audience,
            "expiresAt": self.expires_at_ms,
        }


class ReplayStore(Protocol):
    # how long an expired challenge stays known (the relay's max_age_ms + max_skew_ms)
    challenge_retention_ms: int

    def issue_challenge(self, subject: str, audience: str, *, ttl_ms: int, now_ms: int) -> Challenge: ...

    def consume(
        self, claims: Sequence[Claim], *, now_ms: int, require_challenge: bool = False
    ) -> list[str | None]:
        """Atomically consumes each claim in order: None if accepted, else a verdict code
        (``nonce_replayed``, ``challenge_unknown``, ``challenge_binding_mismatch``, ``challenge_expired``)."""
        ...

    def purge(self, *, now_ms: int) -> int: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


def new_nonce() -> str:
    """32 random bytes, base64url without padding (the proof's nonce encoding)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def _scope(subject: str) -> str:
    # Fixed-size key for an arbitrary subject; nonces are scoped per subject so
    # one enrolled user cannot burn another user's pending nonce.
    return hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()


def _binding(subject: str, audience: str) -> str:
    s, a = subject.encode("utf-8", "surrogatepass"), audience.encode("utf-8", "surrogatepass")
    return hashlib.sha256(len(s).to_bytes(8, "big") + s + a).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS pm_nonce_log (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    claim         BLOB NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS pm_nonce_log_expiry ON pm_nonce_log (expires_at_ms);
CREATE TABLE IF NOT EXISTS pm_challenges (
    nonce         TEXT PRIMARY KEY,
    binding       TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS pm_challenges_expiry ON pm_challenges (expires_at_ms);
"""

_CHUNK = 300  # values per IN (...) list, rows per INSERT (far below every engine's limit)
_LOAD_ROWS = 50_000  # rows per read when the index catches up with the table


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for k in range(0, len(values), _CHUNK):
        yield values[k : k + _CHUNK]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class SqlReplayStore:
    """Nonces and challenges in the relay's SQLite database: shared by every relay
    process on the host, durable across crashes.

    Accepted claims are appended to ``pm_nonce_log`` in commit order (the rowid
    only grows, so inserts touch the table's last pages), and "seen before?" is
    answered by a :class:`~proof_messenger._core.NonceIndex` in memory. The index is
    a cache of the table: each decision runs in one write transaction that first
    reads the rows other processes committed since this one last looked, then
    checks and inserts, so two processes (or threads) can never both accept a
    claim. A unique key over random nonces would do the same at one dirty page per
    claim (measured: ~33 ms per 1,000 claims once the table held 100k rows; this
    design: docs/PERFORMANCE.md). The price is memory: ~30 bytes per live claim
    (10M claims, i.e. 30k proofs/s over a 5.5-minute window: ~300 MB).

    This relies on SQLite's serialised writers (``BEGIN IMMEDIATE``) and
    ``AUTOINCREMENT``; a PostgreSQL replay store would keep the claim's unique key
    in the table instead (``INSERT ... ON CONFLICT DO NOTHING``).
    """

    def __init__(self, db: Database, *, challenge_retention_ms: int = DEFAULT_CHALLENGE_RETENTION_MS) -> None:
        self.db = db
        self.challenge_retention_ms = challenge_retention_ms
        self._index = NonceIndex()
        self._seq = 0  # the highest pm_nonce_log row the index has seen
        self._lock = threading.Lock()  # one decision at a time per process, index updates included
        db.executescript(_SCHEMA)
        self._migrate()
        # Load the table now, outside any write lock: writers commit one at a time and
        # rows get increasing seqs, so every read sees a prefix and the catch-up of the
        # first decision only reads what came after. (Expired rows go at the first purge.)
        self._catch_up(db, now_ms=0)

    def _migrate(self) -> None:
        """Moves live rows of the earlier ``pm_nonces`` table (unique key per claim)
        into the log, so an upgrade forgets no accepted nonce."""
        with self.db.transaction() as tx:
            if not tx.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pm_nonces'"
            ).fetchone():
                return
            rows = tx.execute("SELECT scope, nonce, expires_at_ms FROM pm_nonces").fetchall()
            tx.executemany(
                "INSERT INTO pm_nonce_log (claim, expires_at_ms) VALUES (?, ?)",
                [(claim_key(bytes.fromhex(scope), nonce), expiry) for scope, nonce, expiry in rows],
            )
            tx.execute("DROP TABLE pm_nonces")

    def issue_challenge(self, subject: str, audience: str, *, ttl_ms: int, now_ms: int) -> Challenge:
        ch = Challenge(new_nonce(), subject, audience, now_ms + ttl_ms)
        self.db.execute(
            "INSERT INTO pm_challenges (nonce, binding, expires_at_ms) VALUES (?, ?, ?)",
            (ch.nonce, _binding(subject, audience), ch.expires_at_ms),
        )
        return ch

    def consume(
        self, claims: Sequence[Claim], *, now_ms: int, require_challenge: bool = False
    ) -> list[str | None]:
        if not claims:
            return []
        blob = Claim.keys(list(claims))  # claim_key of each
        keys = [blob[k : k + 16] for k in range(0, len(blob), 16)]
        with self._lock:
            with self.db.transaction() as tx:
                self._catch_up(tx, now_ms)
                out, new = self._decide(tx, claims, keys, now_ms, require_challenge)
                if new:
                    # Multi-row statements, not executemany: sqlite3 releases and retakes the
                    # GIL around every step, and under load each retake can wait a whole
                    # switch interval (5 ms) behind the relay's other threads.
                    for part in _chunks(new):
                        tx.execute(
                            "INSERT INTO pm_nonce_log (claim, expires_at_ms) VALUES "  # noqa: S608
                            + ", ".join(["(?, ?)"] * len(part)),
                            [v for row in part for v in row],
                        )
                    last = int(tx.execute("SELECT last_insert_rowid()").fetchone()[0])
            # Committed. Under the write lock nobody else inserted: our rows are the
            # newest, so the index now covers the table up to `last`.
            if new:
                self._index.add(b"".join(k for k, _ in new), [e for _, e in new], now_ms)
                self._seq = last
        return out

    def _catch_up(self, tx: Any, now_ms: int) -> None:
        """Adds the rows committed since this one last read (all rows at start). Run
        inside the write transaction before deciding, so nothing can be missed."""
        while True:
            rows = tx.execute(
                "SELECT seq, claim, expires_at_ms FROM pm_nonce_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (self._seq, _LOAD_ROWS),
            ).fetchall()
            if not rows:
                return
            self._index.add(b"".join(r[1] for r in rows), [r[2] for r in rows], now_ms)
            self._seq = rows[-1][0]
            if len(rows) < _LOAD_ROWS:
                return

    def _decide(
        self, tx: Any, claims: Sequence[Claim], keys: list[bytes], now_ms: int, require_challenge: bool
    ) -> tuple[list[str | None], list[tuple[bytes, int]]]:
        """Each claim's verdict, and the (key, expiry) rows to record. A challenge is
        deleted only by a claim that matches it."""
        out: list[str | None] = [None] * len(claims)
        challenges: dict[str, tuple[str, int]] = {}
        # (inside the write transaction: no challenge can appear before the commit)
        outstanding = tx.execute("SELECT 1 FROM pm_challenges LIMIT 1").fetchone() is not None
        for chunk in _chunks([c.nonce for c in claims] if outstanding else []):
            rows = tx.execute(
                "SELECT nonce, binding, expires_at_ms FROM pm_challenges"  # noqa: S608
                f" WHERE nonce IN ({_marks(len(chunk))})",
                chunk,
            ).fetchall()
            challenges.update({r[0]: (r[1], r[2]) for r in rows})
        seen = self._index.seen(b"".join(keys), now_ms)
        used: list[str] = []
        taken: set[bytes] = set()
        new: list[tuple[bytes, int]] = []
        for i, c in enumerate(claims):
            key = keys[i]
            ch = challenges.get(c.nonce) if challenges else None
            if ch is not None:
                if ch[0] != _binding(c.subject, c.audience):
                    out[i] = errors.CHALLENGE_BINDING_MISMATCH
                    continue
                if ch[1] < now_ms:
                    out[i] = errors.CHALLENGE_EXPIRED
                    continue
            elif require_challenge:
                out[i] = errors.NONCE_REPLAYED if seen[i] or key in taken else errors.CHALLENGE_UNKNOWN
                continue
            if seen[i] or key in taken:  # consumed before, or earlier in this group
                out[i] = errors.NONCE_REPLAYED
                continue
            if ch is not None:
                used.append(c.nonce)
            taken.add(key)
            new.append((key, max(c.expires_at_ms, now_ms)))
        for chunk in _chunks(used):
            tx.execute(f"DELETE FROM pm_challenges WHERE nonce IN ({_marks(len(chunk))})", chunk)  # noqa: S608
        return out, new

    def purge(self, *, now_ms: int) -> int:
        n = self.db.execute("DELETE FROM pm_nonce_log WHERE expires_at_ms < ?", (now_ms,)).rowcount
        n += self.db.execute(
            "DELETE FROM pm_challenges WHERE expires_at_ms < ?", (now_ms - self.challenge_retention_ms,)
        ).rowcount
        self._index.purge(now_ms)
        return n

    def ping(self) -> None:
        self.db.query_one("SELECT 1 FROM pm_nonce_log LIMIT 1")

    def close(self) -> None:
        self._index.clear()


# KEYS[1] = challenge key, KEYS[2] = nonce key (same hash slot: both are tagged {nonce})
# ARGV = binding, nonce ttl ms, now ms, require_challenge
_CONSUME_LUA = """
local ch = redis.call('GET', KEYS[1])
if ch then
  local sep = string.find(ch, ':', 1, true)
  if string.sub(ch, sep + 1) ~= ARGV[1] then return 'challenge_binding_mismatch' end
  if tonumber(string.sub(ch, 1, sep - 1)) < tonumber(ARGV[3]) then return 'challenge_expired' end
  redis.call('DEL', KEYS[1])
elseif ARGV[4] == '1' then
  if redis.call('EXISTS', KEYS[2]) == 1 then return 'nonce_replayed' end
  return 'challenge_unknown'
end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then return 'ok' end
return 'nonce_replayed'
"""


log = logging.getLogger("proof_messenger.relay")


class _Epoch:
    """Detects that Redis lost the replay state (a restart without persistence, a
    failover to a replica behind, a FLUSHALL) and says which claims it can no longer
    vouch for.

    Redis holds one epoch key, ``<prefix>epoch`` = ``<random>:<created ms>:<lost>``, never
    expiring. Every consume reads it in the same round trip as the claims; a relay that
    knew another value (remembered in ``path`` across its own restarts) or finds it gone
    knows the nonce records may be gone. It then makes (or adopts) a new epoch, created
    at ``lost_at`` ≥ the loss, with ``lost`` = 1 so that relays that knew nothing learn it
    too. A proof accepted before the loss had its timestamp below ``lost_at + max_skew``,
    that is, its claim expires before ``lost_at + window_ms`` (``window_ms`` = max_age +
    2 max_skew): such a claim is refused (``nonce_replayed``: the relay cannot tell that it
    was not used). A claim of a proof signed later is accepted as usual."""

    def __init__(self, client: Any, key: str, path: Path | None, window_ms: int) -> None:
        self.client, self.key, self.path, self.window_ms = client, key, path, window_ms
        self.known: str | None = None
        self.lost_at_ms: int | None = None
        self._lock = threading.Lock()
        if path is not None:
            try:
                known, _, lost = path.read_text(encoding="ascii").strip().partition(" ")
            except FileNotFoundError:
                return
            self.known = known or None
            self.lost_at_ms = int(lost) if lost else None

    def observe(self, value: bytes | None, *, now_ms: int) -> None:
        """``value``: the epoch key as read with the claims."""
        if value is not None and value.decode("ascii") == self.known:
            return
        with self._lock:
            if value is None:
                lost = int(self.known is not None)
                self.client.set(self.key, f"{secrets.token_hex(8)}:{now_ms}:{lost}", nx=True)
                value = self.client.get(self.key)
                if value is None:
                    raise ConnectionError("the replay epoch vanished as it was written")
            text = value.decode("ascii")
            _, created, lost_flag = text.split(":")
            if lost_flag == "1" or (self.known is not None and text != self.known):
                self.lost_at_ms = max(self.lost_at_ms or 0, int(created))
                log.error(
                    "Redis lost the replay state (epoch %s -> %s): proofs signed before %d ms"
                    " are refused as nonce_replayed; configure Redis persistence (docs/RELAY.md)",
                    self.known,
                    text,
                    self.lost_at_ms,
                )
            self.known = text
            self._save()

    def refuses(self, claim: Claim) -> bool:
        return self.lost_at_ms is not None and claim.expires_at_ms < self.lost_at_ms + self.window_ms

    def _save(self) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(f"{self.known} {self.lost_at_ms or ''}\n", encoding="ascii")
        os.replace(tmp, self.path)


class RedisReplayStore:
    """Nonces and challenges in Redis, shared by any number of relay processes.

    Each claim is one Lua script run (atomic on the server); a batch sends all
    of them in one pipeline round trip, with the read of the replay epoch
    (:class:`_Epoch`: a Redis that lost its data is noticed, and the claims it can no
    longer vouch for are refused).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "pm:",
        socket_timeout_s: float = 2.0,
        challenge_retention_ms: int = DEFAULT_CHALLENGE_RETENTION_MS,
        epoch_file: Path | None = None,
        max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
    ) -> None:
        import redis

        self.prefix = prefix
        self.challenge_retention_ms = challenge_retention_ms
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            health_check_interval=30,
        )
        self._script = self.client.register_script(_CONSUME_LUA)
        # challenge_retention_ms is max_age + max_skew: the window is one more skew
        self._epoch = _Epoch(self.client, prefix + "epoch", epoch_file, challenge_retention_ms + max_skew_ms)

    def persistence_warnings(self) -> list[str]:
        """What the relay can see of Redis's durability: the settings a nonce needs to
        survive a Redis restart (docs/RELAY.md, "Redis")."""
        import redis

        try:
            conf = self.client.config_get("appendonly") | self.client.config_get("appendfsync")
            role = self.client.info("replication").get("role")
        except redis.RedisError as exc:
            return [f"cannot read Redis's persistence settings ({type(exc).__name__}); check them by hand"]
        out = []
        if conf.get("appendonly") != "yes":
            out.append("Redis has appendonly no: a restart forgets every nonce (set appendonly yes)")
        elif conf.get("appendfsync") not in ("always", "everysec"):
            out.append(f"Redis appendfsync is {conf.get('appendfsync')!r}: use always or everysec")
        if role not in (None, "master"):
            out.append(f"Redis role is {role!r}: point the relay at the primary")
        return out

    def _keys(self, c: Claim) -> list[str]:
        tag = f"{self.prefix}{{{c.nonce}}}"
        return [tag + ":c", tag + ":n:" + _scope(c.subject)]

    def issue_challenge(self, subject: str, audience: str, *, ttl_ms: int, now_ms: int) -> Challenge:
        ch = Challenge(new_nonce(), subject, audience, now_ms + ttl_ms)
        key = f"{self.prefix}{{{ch.nonce}}}:c"
        self.client.set(
            key,
            f"{ch.expires_at_ms}:{_binding(subject, audience)}",
            px=ttl_ms + self.challenge_retention_ms,
            nx=True,
        )
        return ch

    def consume(
        self, claims: Sequence[Claim], *, now_ms: int, require_challenge: bool = False
    ) -> list[str | None]:
        if not claims:
            return []
        req = "1" if require_challenge else "0"
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self._epoch.key)
        for c in claims:
            ttl = max(c.expires_at_ms - now_ms, 1)
            self._script(
                keys=self._keys(c), args=[_binding(c.subject, c.audience), ttl, now_ms, req], client=pipe
            )
        epoch, *results = pipe.execute()
        self._epoch.observe(epoch, now_ms=now_ms)
        out: list[str | None] = []
        for c, r in zip(claims, results, strict=True):
            if r not in (b"ok", "ok"):
                out.append(r.decode() if isinstance(r, bytes) else str(r))
            elif self._epoch.refuses(c):
                out.append(errors.NONCE_REPLAYED)
            else:
                out.append(None)
        return out

    def purge(self, *, now_ms: int) -> int:
        return 0  # Redis expires keys itself (PX)

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self.client.close()

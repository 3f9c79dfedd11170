"""Replay protection: one-time nonces and server-issued challenges.

A nonce is accepted at most once within its window: :meth:`ReplayStore.consume`
records ``(subject, nonce)`` atomically (SQLite: a primary key inside a
write transaction; Redis: ``SET NX PX`` inside a Lua script) and reports
``nonce_replayed`` for every later attempt until the record expires — when
the proof it came with is too old to pass the freshness check anyway.

A challenge is a nonce the relay issued for one subject and audience. A proof
carrying it must name the same subject and audience; consuming it and
recording the nonce happen in the same atomic step.

>>> from proof_messenger.relay.db import SqliteDatabase
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
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from . import errors
from .db import Database

# SQL text here interpolates only constant column lists and "?" placeholders (S608 noqa);
# every value is a bound parameter.

# Expired challenges stay known this long, so that a late proof is told
# "challenge_expired" rather than treated as carrying a client nonce.
CHALLENGE_GRACE_MS = 600_000


@dataclass(frozen=True, slots=True)
class Claim:
    """One proof's claim on a nonce: keep it until ``expires_at_ms``."""

    subject: str
    audience: str
    nonce: str
    expires_at_ms: int


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
CREATE TABLE IF NOT EXISTS pm_nonces (
    scope         TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, nonce)
);
CREATE INDEX IF NOT EXISTS pm_nonces_expiry ON pm_nonces (expires_at_ms);
CREATE TABLE IF NOT EXISTS pm_challenges (
    nonce         TEXT PRIMARY KEY,
    binding       TEXT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS pm_challenges_expiry ON pm_challenges (expires_at_ms);
"""

_CHUNK = 300  # rows per statement (3 parameters each; far below every engine's limit)


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for k in range(0, len(values), _CHUNK):
        yield values[k : k + _CHUNK]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class SqlReplayStore:
    """Nonces and challenges in the relay database (one host; durable across crashes)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(_SCHEMA)

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
        if len(claims) == 1:
            # One claim needs no explicit transaction: the nonce INSERT is the single
            # atomic arbiter, and autocommit saves two round trips.
            return self._consume(self.db, claims, now_ms, require_challenge)
        with self.db.transaction() as tx:  # many claims: a few statements and one commit for all
            return self._consume(tx, claims, now_ms, require_challenge)

    @staticmethod
    def _consume(tx: Any, claims: Sequence[Claim], now_ms: int, require_challenge: bool) -> list[str | None]:
        """Correct with or without an enclosing transaction: whoever inserts a nonce
        row first is accepted; a challenge is deleted only by a claim that matches
        it, so a race can make the loser see "no challenge" but can never let two
        claims both be accepted."""
        out: list[str | None] = [None] * len(claims)
        challenges: dict[str, tuple[str, int]] = {}
        for chunk in _chunks([c.nonce for c in claims]):
            rows = tx.execute(
                "SELECT nonce, binding, expires_at_ms FROM pm_challenges"  # noqa: S608
                f" WHERE nonce IN ({_marks(len(chunk))})",
                chunk,
            ).fetchall()
            challenges.update({r[0]: (r[1], r[2]) for r in rows})
        used: list[str] = []
        to_insert: dict[
            tuple[str, str], tuple[int, int]
        ] = {}  # (scope, nonce) -> (first claim index, expiry)
        for i, c in enumerate(claims):
            scope = _scope(c.subject)
            ch = challenges.get(c.nonce)
            if ch is not None:
                if ch[0] != _binding(c.subject, c.audience):
                    out[i] = errors.CHALLENGE_BINDING_MISMATCH
                    continue
                if ch[1] < now_ms:
                    out[i] = errors.CHALLENGE_EXPIRED
                    continue
                used.append(c.nonce)
            elif require_challenge:
                seen = tx.execute(
                    "SELECT 1 FROM pm_nonces WHERE scope = ? AND nonce = ? AND expires_at_ms >= ?",
                    (scope, c.nonce, now_ms),
                ).fetchone()
                out[i] = (
                    errors.NONCE_REPLAYED
                    if seen or (scope, c.nonce) in to_insert
                    else errors.CHALLENGE_UNKNOWN
                )
                continue
            if (scope, c.nonce) in to_insert:  # the same nonce twice in one group: the first wins
                out[i] = errors.NONCE_REPLAYED
                continue
            to_insert[(scope, c.nonce)] = (i, max(c.expires_at_ms, now_ms))
        for chunk in _chunks(used):
            tx.execute(f"DELETE FROM pm_challenges WHERE nonce IN ({_marks(len(chunk))})", chunk)  # noqa: S608
        accepted: set[tuple[str, str]] = set()
        items = list(to_insert.items())
        for k in range(0, len(items), _CHUNK):
            part = items[k : k + _CHUNK]
            params: list[Any] = []
            for (scope, nonce), (_, expiry) in part:
                params += (scope, nonce, expiry)
            rows = tx.execute(
                "INSERT INTO pm_nonces (scope, nonce, expires_at_ms) VALUES "  # noqa: S608
                + ", ".join(["(?, ?, ?)"] * len(part))
                + " ON CONFLICT (scope, nonce) DO UPDATE SET expires_at_ms = excluded.expires_at_ms"
                " WHERE pm_nonces.expires_at_ms < ? RETURNING scope, nonce",
                (*params, now_ms),
            ).fetchall()
            accepted.update((r[0], r[1]) for r in rows)
        for key, (i, _) in to_insert.items():
            out[i] = None if key in accepted else errors.NONCE_REPLAYED
        return out

    def purge(self, *, now_ms: int) -> int:
        n = self.db.execute("DELETE FROM pm_nonces WHERE expires_at_ms < ?", (now_ms,)).rowcount
        n += self.db.execute(
            "DELETE FROM pm_challenges WHERE expires_at_ms < ?", (now_ms - CHALLENGE_GRACE_MS,)
        ).rowcount
        return n

    def ping(self) -> None:
        self.db.query_one("SELECT 1 FROM pm_nonces LIMIT 1")

    def close(self) -> None:
        pass


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


class RedisReplayStore:
    """Nonces and challenges in Redis, shared by any number of relay processes.

    Each claim is one Lua script run (atomic on the server); a batch sends all
    of them in one pipeline round trip.
    """

    def __init__(self, url: str, *, prefix: str = "pm:", socket_timeout_s: float = 2.0) -> None:
        import redis

        self.prefix = prefix
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            health_check_interval=30,
        )
        self._script = self.client.register_script(_CONSUME_LUA)

    def _keys(self, c: Claim) -> list[str]:
        tag = f"{self.prefix}{{{c.nonce}}}"
        return [tag + ":c", tag + ":n:" + _scope(c.subject)]

    def issue_challenge(self, subject: str, audience: str, *, ttl_ms: int, now_ms: int) -> Challenge:
        ch = Challenge(new_nonce(), subject, audience, now_ms + ttl_ms)
        key = f"{self.prefix}{{{ch.nonce}}}:c"
        self.client.set(
            key, f"{ch.expires_at_ms}:{_binding(subject, audience)}", px=ttl_ms + CHALLENGE_GRACE_MS, nx=True
        )
        return ch

    def consume(
        self, claims: Sequence[Claim], *, now_ms: int, require_challenge: bool = False
    ) -> list[str | None]:
        if not claims:
            return []
        req = "1" if require_challenge else "0"
        pipe = self.client.pipeline(transaction=False)
        for c in claims:
            ttl = max(c.expires_at_ms - now_ms, 1)
            self._script(
                keys=self._keys(c), args=[_binding(c.subject, c.audience), ttl, now_ms, req], client=pipe
            )
        results = pipe.execute()
        return [
            None if r in (b"ok", "ok") else (r.decode() if isinstance(r, bytes) else str(r)) for r in results
        ]

    def purge(self, *, now_ms: int) -> int:
        return 0  # Redis expires keys itself (PX)

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self.client.close()

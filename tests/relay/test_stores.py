"""The stores on their own: key registry, API clients, nonces/challenges, limits."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import proof_messenger as pm
import pytest
from proof_messenger.relay import errors
from proof_messenger.relay.clients import SqlClientStore
from proof_messenger.relay.db import SqliteDatabase
from proof_messenger.relay.keys import AlreadyEnrolled, SqlKeyRegistry
from proof_messenger.relay.limits import RateLimiter
from proof_messenger.relay.replay import Claim, SqlReplayStore


@pytest.fixture
def db(tmp_path: Path) -> SqliteDatabase:
    d = SqliteDatabase(tmp_path / "relay.sqlite3")
    yield d
    d.close()


def _vk() -> pm.VerifyingKey:
    return pm.SigningKey.generate().verifying_key


# --- key registry ------------------------------------------------------------------


def test_registry_validity_window_and_revocation(db: SqliteDatabase) -> None:
    reg = SqlKeyRegistry(db)
    vk = _vk()
    rec = reg.enroll(
        "alice",
        vk.to_bytes(),
        key_id=vk.key_id,
        label="laptop",
        not_before_ms=100,
        not_after_ms=200,
        now_ms=50,
    )
    assert reg.active_keys(["alice"], now_ms=99) == {}
    assert [r.id for r in reg.active_keys(["alice"], now_ms=100)["alice"]] == [rec.id]
    assert reg.active_keys(["alice"], now_ms=200) == {}  # not_after is exclusive
    with pytest.raises(AlreadyEnrolled):
        reg.enroll("alice", vk.to_bytes(), key_id=vk.key_id, now_ms=60)
    revoked = reg.revoke(rec.id, now_ms=150)
    assert revoked is not None and revoked.revoked_at_ms == 150
    assert reg.revoke(rec.id, now_ms=999).revoked_at_ms == 150  # idempotent, first time kept
    assert reg.active_keys(["alice"], now_ms=150) == {}
    again = reg.enroll("alice", vk.to_bytes(), key_id=vk.key_id, now_ms=160)  # re-enrol after revocation
    assert again.id != rec.id
    assert {r.id for r in reg.list_keys(subject="alice", include_revoked=True)} == {rec.id, again.id}
    assert [r.id for r in reg.list_keys(subject="alice")] == [again.id]
    assert reg.revoke("key_nope", now_ms=1) is None


def test_registry_many_subjects_one_query(db: SqliteDatabase) -> None:
    reg = SqlKeyRegistry(db)
    for i in range(1200):  # more than one IN-chunk
        vk = _vk()
        reg.enroll(f"u{i}", vk.to_bytes(), key_id=vk.key_id, now_ms=1)
    found = reg.active_keys([f"u{i}" for i in range(1200)] + ["nobody"], now_ms=2)
    assert len(found) == 1200 and "nobody" not in found


def test_registry_is_shared_between_connections(tmp_path: Path) -> None:
    """Two processes (here: two databases on one file) see each other's revocations."""
    a, b = SqliteDatabase(tmp_path / "r.db"), SqliteDatabase(tmp_path / "r.db")
    vk = _vk()
    rec = SqlKeyRegistry(a).enroll("alice", vk.to_bytes(), key_id=vk.key_id, now_ms=1)
    assert SqlKeyRegistry(b).active_keys(["alice"], now_ms=2)
    SqlKeyRegistry(a).revoke(rec.id, now_ms=3)
    assert SqlKeyRegistry(b).active_keys(["alice"], now_ms=4) == {}
    a.close(), b.close()


# --- API clients -------------------------------------------------------------------


def test_client_keys_are_stored_only_as_hashes(db: SqliteDatabase) -> None:
    store = SqlClientStore(db)
    client, api_key = store.create("svc", audience="payments-api", now_ms=1)
    assert api_key.startswith("pmk_") and len(api_key) > 40
    dump = "\n".join(db.conn.iterdump())
    assert api_key not in dump and api_key[4:] not in dump
    assert store.authenticate(api_key) == client
    for wrong in ("", api_key[:-1], api_key + "A", "pmk_" + "A" * 43):
        assert store.authenticate(wrong) is None
    assert store.revoke(client.id, now_ms=2).revoked_at_ms == 2
    assert store.authenticate(api_key) is None
    assert store.list_clients() == [] and len(store.list_clients(include_revoked=True)) == 1


# --- nonces and challenges ---------------------------------------------------------


def test_nonce_accepted_once_within_window(db: SqliteDatabase) -> None:
    store = SqlReplayStore(db)
    c = Claim("alice", "api", "n" * 22, expires_at_ms=1000)
    assert store.consume([c], now_ms=10) == [None]
    assert store.consume([c], now_ms=999) == [errors.NONCE_REPLAYED]
    # the same nonce string for another subject is another claim (scoped per subject)
    assert store.consume([Claim("bob", "api", "n" * 22, 1000)], now_ms=10) == [None]
    # after the window the record may be replaced (the old proof fails freshness anyway)
    assert store.consume([Claim("alice", "api", "n" * 22, 5000)], now_ms=1001) == [None]
    assert store.purge(now_ms=10_000) == 2


def test_nonce_consume_is_atomic_across_threads(tmp_path: Path) -> None:
    dbs = [SqliteDatabase(tmp_path / "n.db") for _ in range(2)]
    stores = [SqlReplayStore(d) for d in dbs]
    results: list[str | None] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        results.extend(stores[i % 2].consume([Claim("alice", "api", "same-nonce", 10**13)], now_ms=1))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 1 and results.count(errors.NONCE_REPLAYED) == 7
    for d in dbs:
        d.close()


def test_challenges(db: SqliteDatabase) -> None:
    store = SqlReplayStore(db)
    ch = store.issue_challenge("alice", "api", ttl_ms=1000, now_ms=0)
    assert len(ch.nonce) == 43 and ch.expires_at_ms == 1000
    assert store.consume([Claim("alice", "other-api", ch.nonce, 10**6)], now_ms=1) == [
        errors.CHALLENGE_BINDING_MISMATCH
    ]
    assert store.consume([Claim("bob", "api", ch.nonce, 10**6)], now_ms=1) == [
        errors.CHALLENGE_BINDING_MISMATCH
    ]
    assert store.consume([Claim("alice", "api", ch.nonce, 10**6)], now_ms=1) == [None]
    assert store.consume([Claim("alice", "api", ch.nonce, 10**6)], now_ms=2) == [errors.NONCE_REPLAYED]
    late = store.issue_challenge("alice", "api", ttl_ms=1000, now_ms=0)
    assert store.consume([Claim("alice", "api", late.nonce, 10**6)], now_ms=1001) == [
        errors.CHALLENGE_EXPIRED
    ]
    assert store.consume([Claim("alice", "api", late.nonce, 10**6)], now_ms=1002) == [
        errors.CHALLENGE_EXPIRED
    ]
    # require_challenge: a client-chosen nonce is refused
    assert store.consume(
        [Claim("alice", "api", "client-nonce", 10**6)], now_ms=1, require_challenge=True
    ) == [errors.CHALLENGE_UNKNOWN]


# --- rate limits -------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["sliding-window", "moving-window", "fixed-window"])
def test_rate_limits(strategy: str) -> None:
    rl = RateLimiter(client_limit="5/minute", subject_limit="2/minute", strategy=strategy)
    assert rl.hit_client("c", cost=3).allowed
    assert rl.hit_client("c", cost=2).allowed
    d = rl.hit_client("c")
    assert not d.allowed and 1 <= d.retry_after_s <= 60
    assert rl.hit_client("other").allowed  # per client
    assert not rl.hit_client("x", cost=6).allowed  # more than the whole budget
    assert rl.hit_subject("alice").allowed and rl.hit_subject("alice").allowed
    assert not rl.hit_subject("alice").allowed and rl.hit_subject("bob").allowed


def test_sqlite_synchronous_setting(tmp_path: Path) -> None:
    d = SqliteDatabase(tmp_path / "x.db", synchronous="full")
    assert d.query_one("PRAGMA synchronous")[0] == 2  # FULL
    assert d.query_one("PRAGMA journal_mode")[0] == "wal"
    d.close()
    assert isinstance(d, SqliteDatabase) and sqlite3.sqlite_version_info >= (3, 24)

"""The stores on their own: key registry, API clients, nonces/challenges, limits."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import sqlite3
import tempfile
import threading
import types
from pathlib import Path

import proof_messenger as pm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proof_messenger._core.relay import TokenBuckets
from proof_messenger._core.relay import claims as native_claims
from proof_messenger.relay import errors
from proof_messenger.relay.stores import clients as clients_module
from proof_messenger.relay.stores.clients import SqlClientStore, admin_token_matches, hash_key
from proof_messenger.relay.stores.db import SqliteDatabase
from proof_messenger.relay.stores.limits import RateLimiter
from proof_messenger.relay.stores.registry import AlreadyEnrolled, SqlKeyRegistry
from proof_messenger.relay.stores.replay import Claim, SqlReplayStore, claim_key


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


def test_keys_and_ids_have_their_documented_entropy_and_shape(db: SqliteDatabase) -> None:
    """An API key is pmk_ + 32 random bytes (256 bits, 43 base64url characters); a client id
    is cli_ + 10 random bytes in hex. The client record cannot be changed after the fact."""
    store = SqlClientStore(db)
    client, api_key = store.create("svc", audience="payments-api", now_ms=1)
    assert re.fullmatch(r"pmk_[A-Za-z0-9_-]{43}", api_key), api_key
    assert re.fullmatch(r"cli_[0-9a-f]{20}", client.id), client.id
    with pytest.raises(dataclasses.FrozenInstanceError):
        client.audience = "other-api"  # type: ignore[misc]
    assert not hasattr(client, "__dict__")  # slots: no attribute can be added either


def test_a_database_written_before_keeps_authenticating(db: SqliteDatabase) -> None:
    """The key index is the first 16 hex characters of the key's SHA-256, as every existing
    table holds it: a row written so (by an earlier version, or by hand) authenticates."""
    api_key = "pmk_" + "C" * 43
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    store = SqlClientStore(db)
    db.execute(
        "INSERT INTO pm_clients (id, name, audience, key_index, key_hash, created_at_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        ("cli_old", "old", "payments-api", digest[:16], digest, 1),
    )
    found = store.authenticate(api_key)
    assert found is not None and (found.id, found.audience) == ("cli_old", "payments-api")


def test_client_roles_are_kept_and_default_to_client(db: SqliteDatabase) -> None:
    """The role (who may read every audit entry) is set at creation and read back by every
    lookup; anything but the two roles is refused."""
    store = SqlClientStore(db)
    plain, plain_key = store.create("svc", audience="payments-api", now_ms=1)
    auditor, auditor_key = store.create("audit", audience="audit", now_ms=2, role="auditor")
    assert (plain.role, auditor.role) == ("client", "auditor")
    for found, want in (
        (store.authenticate(plain_key), "client"),
        (store.authenticate(auditor_key), "auditor"),
    ):
        assert found is not None and found.role == want
    assert store.get(auditor.id) == auditor and store.get(plain.id) == plain
    assert [c.role for c in store.list_clients()] == ["client", "auditor"]
    assert auditor.to_json() == {
        "id": auditor.id,
        "name": "audit",
        "audience": "audit",
        "role": "auditor",
        "createdAt": 2,
        "revokedAt": None,
    }
    with pytest.raises(ValueError, match="role"):
        store.create("x", audience="a", now_ms=3, role="admin")
    assert len(store.list_clients()) == 2  # nothing written for the refused role


def test_a_client_table_made_before_roles_gets_the_client_role(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE pm_clients (id TEXT PRIMARY KEY, name TEXT NOT NULL, audience TEXT NOT NULL,"
        " key_index TEXT NOT NULL, key_hash TEXT NOT NULL, created_at_ms BIGINT NOT NULL,"
        " revoked_at_ms BIGINT);"
    )
    api_key = "pmk_" + "D" * 43
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    old.execute(
        "INSERT INTO pm_clients VALUES (?, ?, ?, ?, ?, ?, NULL)",
        ("cli_old", "old", "payments-api", digest[:16], digest, 1),
    )
    old.commit()
    old.close()
    store = SqlClientStore(SqliteDatabase(str(path)))
    found = store.authenticate(api_key)
    assert found is not None and found.role == "client"
    _, key = store.create("new", audience="a", now_ms=2, role="auditor")
    assert store.authenticate(key).role == "auditor"  # type: ignore[union-attr]
    SqlClientStore(SqliteDatabase(str(path)))  # a second start finds the column: no error


def test_client_listing_pages_by_100_from_the_first(db: SqliteDatabase) -> None:
    store = SqlClientStore(db)
    made = [store.create(f"svc{i}", audience="api", now_ms=i)[0] for i in range(101)]
    listed = store.list_clients()
    assert len(listed) == 100 and listed[0] == made[0] and listed[-1] == made[99]
    assert store.list_clients(offset=100) == [made[100]]
    store.revoke(made[0].id, now_ms=200)
    assert store.list_clients()[0] == made[1]


def test_a_row_with_the_same_key_index_and_another_hash_is_nobody(db: SqliteDatabase) -> None:
    """The 64-bit index only finds candidates: the full hash decides (an injected row, or an
    index collision, must not authenticate anyone)."""
    store = SqlClientStore(db)
    client, api_key = store.create("svc", audience="payments-api", now_ms=1)
    other_key = "pmk_" + "B" * 43
    for name, index, digest in (
        ("after", hash_key(api_key)[:16], hash_key("not the key")),  # shares the real client's index
        ("lure", hash_key(other_key)[:16], hash_key("not the other key")),  # the only row for other_key
    ):
        db.execute(
            "INSERT INTO pm_clients (id, name, audience, key_index, key_hash, created_at_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (f"cli_{name}", name, "other-api", index, digest, 2),
        )
    assert store.authenticate(api_key) == client
    assert store.authenticate(other_key) is None


def test_credentials_are_compared_in_constant_time(
    db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API keys and the admin token go through hmac.compare_digest (of fixed-size digests),
    never ``==``: the comparison's time says nothing about how much of a guess was right."""
    calls: list[tuple[str, str]] = []
    real = clients_module.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(clients_module.hmac, "compare_digest", spy)
    store = SqlClientStore(db)
    _, api_key = store.create("svc", audience="payments-api", now_ms=1)
    assert store.authenticate(api_key) is not None
    assert calls == [(hash_key(api_key), hash_key(api_key))]
    calls.clear()
    assert admin_token_matches("guess" * 8, "t" * 40) is False
    assert admin_token_matches("t" * 40, "t" * 40) is True
    assert calls == [(hash_key("guess" * 8), hash_key("t" * 40)), (hash_key("t" * 40), hash_key("t" * 40))]


# --- nonces and challenges ---------------------------------------------------------


def test_a_claim_counts_through_its_expiry_millisecond(db: SqliteDatabase) -> None:
    """The boundary, deterministically: a claim kept until 1000 is still a replay at 1000,
    and free at 1001 (in this process's index, and for a store that reads it from the table)."""
    store = SqlReplayStore(db)
    claim = Claim("alice", "api", "b" * 22, expires_at_ms=1000)
    assert store.consume([claim], now_ms=500) == [None]
    assert store.consume([claim], now_ms=1000) == [errors.NONCE_REPLAYED]
    other = SqlReplayStore(db)  # another process: catches up from pm_nonce_log
    assert other.consume([claim], now_ms=1000) == [errors.NONCE_REPLAYED]
    assert store.consume([claim], now_ms=1001) == [None]
    later = Claim("alice", "api", "c" * 22, expires_at_ms=2000)
    assert store.consume([later], now_ms=1999) == [None]
    assert other.consume([later], now_ms=2000) == [errors.NONCE_REPLAYED]
    assert other.consume([later], now_ms=2001) == [None]


def test_nonce_accepted_once_within_window(db: SqliteDatabase) -> None:
    store = SqlReplayStore(db)
    c = Claim("alice", "api", "n" * 22, expires_at_ms=1000)
    assert store.consume([c], now_ms=10) == [None]
    assert store.consume([c], now_ms=999) == [errors.NONCE_REPLAYED]
    # the same nonce string for another subject is another claim (scoped per subject)
    assert store.consume([Claim("bob", "api", "n" * 22, 1000)], now_ms=10) == [None]
    # after the window the nonce may be claimed again (the old proof fails freshness anyway)
    assert store.consume([Claim("alice", "api", "n" * 22, 5000)], now_ms=1001) == [None]
    assert store.consume([Claim("alice", "api", "n" * 22, 5000)], now_ms=1002) == [errors.NONCE_REPLAYED]
    assert store.purge(now_ms=10_000) == 3  # every recorded claim row
    assert store.consume([Claim("alice", "api", "n" * 22, 20_000)], now_ms=10_001) == [None]


def test_nonce_claims_recorded_by_another_process_are_seen(tmp_path: Path) -> None:
    # Two connections, two indexes: each store learns the other's claims from the table
    # inside its own write transaction (a second process on the host, or a restart).
    dbs = [SqliteDatabase(tmp_path / "n.db") for _ in range(2)]
    a, b = (SqlReplayStore(d) for d in dbs)
    now = 1_000
    assert a.consume([Claim("alice", "api", "nonce-1", 10**6)], now_ms=now) == [None]
    assert b.consume([Claim("alice", "api", "nonce-1", 10**6)], now_ms=now) == [errors.NONCE_REPLAYED]
    assert b.consume([Claim("alice", "api", "nonce-2", 10**6)], now_ms=now) == [None]
    assert a.consume(
        [Claim("alice", "api", "nonce-2", 10**6), Claim("alice", "api", "nonce-3", 10**6)], now_ms=now
    ) == [errors.NONCE_REPLAYED, None]
    restarted = SqlReplayStore(SqliteDatabase(tmp_path / "n.db"))
    assert len(restarted._index) == 3  # loaded at start, not under the first decision's write lock
    assert restarted.consume(
        [Claim("alice", "api", f"nonce-{i}", 10**6) for i in (1, 2, 3, 4)], now_ms=now
    ) == [
        errors.NONCE_REPLAYED,
        errors.NONCE_REPLAYED,
        errors.NONCE_REPLAYED,
        None,
    ]
    restarted.db.close()
    for d in dbs:
        d.close()


def test_nonces_of_the_unique_key_table_survive_the_upgrade(tmp_path: Path) -> None:
    # Databases written before the claim log kept one row per (scope, nonce) in pm_nonces.
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE pm_nonces (scope TEXT NOT NULL, nonce TEXT NOT NULL, expires_at_ms BIGINT NOT NULL,"
        " PRIMARY KEY (scope, nonce));"
    )
    scope = hashlib.sha256(b"alice").hexdigest()
    old.execute("INSERT INTO pm_nonces VALUES (?, ?, ?)", (scope, "old-nonce", 10**6))
    old.commit()
    old.close()
    db = SqliteDatabase(path)
    store = SqlReplayStore(db)
    assert store.consume([Claim("alice", "api", "old-nonce", 10**6)], now_ms=1) == [errors.NONCE_REPLAYED]
    assert store.consume([Claim("bob", "api", "old-nonce", 10**6)], now_ms=1) == [None]
    assert db.query_one("SELECT count(*) FROM sqlite_master WHERE name = 'pm_nonces'") == (0,)
    SqlReplayStore(db)  # a second start finds nothing to migrate
    db.close()


_subjects = st.sampled_from(["alice", "bob", "carol"])
_nonces = st.sampled_from(["n1", "n2", "n3", "n4"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 1),  # which of two stores (processes) decides
            st.integers(0, 50),  # time step
            st.lists(st.tuples(_subjects, _nonces, st.integers(0, 200)), min_size=1, max_size=6),
            st.booleans(),  # purge first
        ),
        max_size=25,
    )
)
def test_nonce_store_matches_a_reference_model(
    steps: list[tuple[int, int, list[tuple[str, str, int]], bool]],
) -> None:
    # The reference: a claim is accepted iff no earlier accepted claim of the same
    # (subject, nonce) is still unexpired; within a group the first one wins.
    with tempfile.TemporaryDirectory() as tmp:
        dbs = [SqliteDatabase(Path(tmp) / "m.db") for _ in range(2)]
        stores = [SqlReplayStore(d) for d in dbs]
        model: dict[tuple[str, str], int] = {}
        now = 0
        for which, step, group, purge in steps:
            now += step
            if purge:
                stores[1 - which].purge(now_ms=now)
            claims = [Claim(s, "api", n, now + ttl) for s, n, ttl in group]
            expected: list[str | None] = []
            for c in claims:
                key = (c.subject, c.nonce)
                if model.get(key, -1) >= now:
                    expected.append(errors.NONCE_REPLAYED)
                else:
                    model[key] = c.expires_at_ms
                    expected.append(None)
            assert stores[which].consume(claims, now_ms=now) == expected
        for d in dbs:
            d.close()


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


@pytest.mark.parametrize("strategy", ["token-bucket", "sliding-window", "moving-window", "fixed-window"])
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


def test_subject_batch_charges_in_order_and_all_or_nothing() -> None:
    rl = RateLimiter(client_limit="100/minute", subject_limit="3/minute")  # 3 tokens, +1 every 20 s
    waits = rl.hit_subjects([("alice", 2), ("alice", 2), ("bob", 3), ("alice", 1), ("bob", 1)])
    # a cost larger than what is left fails and takes nothing, so alice's next single unit fits
    assert waits[0] == 0 and 1 <= waits[1] <= 20 and waits[2] == 0 and waits[3] == 0
    assert 1 <= waits[4] <= 20
    assert rl.hit_subjects([("carol", 4)]) == [60]  # more than the bucket: a full window
    rl.purge()  # forgetting full buckets keeps the empty ones
    assert not rl.hit_subject("bob").allowed


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "é", ""]), st.integers(min_value=0, max_value=60)),
        max_size=80,
    )
)
def test_token_buckets_match_a_reference_bucket(ops: list[tuple[str, int]]) -> None:
    """With a slow refill (1 token per 12 minutes) the native buckets must decide exactly
    like a plain counter per key: a hit passes iff its cost fits what is left, all or nothing."""
    buckets = TokenBuckets([(50, 36_000.0)])
    left: dict[str, int] = {}
    for key, cost in ops:
        have = left.get(key, 50)
        wait = buckets.hit(key, cost)
        if cost > 50:
            assert wait == 36_000
        elif cost <= have:
            assert wait == 0
            left[key] = have - cost
        else:
            assert 1 <= wait <= 720 * (cost - have)


def test_registry_cache_sees_writes_from_other_connections(tmp_path: Path) -> None:
    """active_keys reads through a cache; a revocation or enrollment committed by another
    connection (another process's relay or admin call) must count on the very next call."""
    path = tmp_path / "relay.sqlite3"
    relay_db, admin_db = SqliteDatabase(path), SqliteDatabase(path)
    relay, admin = SqlKeyRegistry(relay_db), SqlKeyRegistry(admin_db)
    k1, k2 = (pm.SigningKey.generate().verifying_key for _ in range(2))
    rec = admin.enroll("alice", k1.to_bytes(), key_id=k1.key_id, now_ms=1000, not_after_ms=5000)
    assert [r.id for r in relay.active_keys(["alice", "bob"], now_ms=2000)["alice"]] == [rec.id]
    assert relay.active_keys(["alice"], now_ms=5000) == {}  # the window is checked per call, cached or not
    admin.revoke(rec.id, now_ms=2500)
    assert relay.active_keys(["alice"], now_ms=3000) == {}
    rec2 = admin.enroll("bob", k2.to_bytes(), key_id=k2.key_id, now_ms=3000)
    assert [r.id for r in relay.active_keys(["alice", "bob"], now_ms=3000)["bob"]] == [rec2.id]
    # writes through the caching object itself (same connection) count too
    relay.revoke(rec2.id, now_ms=3500)
    assert relay.active_keys(["bob"], now_ms=4000) == {}
    rec3 = relay.enroll("bob", k1.to_bytes(), key_id=k1.key_id, now_ms=4000)
    assert [r.id for r in relay.active_keys(["bob"], now_ms=4000)["bob"]] == [rec3.id]
    # hand-written SQL from any other program counts too (triggers keep the version)
    raw = sqlite3.connect(path)
    raw.execute("UPDATE pm_keys SET revoked_at_ms = 4100 WHERE id = ?", (rec3.id,))
    raw.commit()
    assert relay.active_keys(["bob"], now_ms=4200) == {}
    raw.execute("DELETE FROM pm_keys")
    raw.commit()
    raw.close()
    assert relay.active_keys(["alice", "bob"], now_ms=4200) == {}
    # commits to other tables (every nonce claim) leave the cache valid
    relay.enroll("carol", k2.to_bytes(), key_id=k2.key_id, now_ms=4300)
    assert "carol" in relay.active_keys(["carol"], now_ms=4400)
    version = relay._cache_version
    SqlReplayStore(admin_db).consume([Claim("carol", "api", "nonce-x", 10**6)], now_ms=4400)
    assert "carol" in relay.active_keys(["carol"], now_ms=4500) and relay._cache_version == version
    relay_db.close()
    admin_db.close()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(st.characters(exclude_categories=("Cs",)), max_size=20), st.text(max_size=44)),
        max_size=6,
    )
)
def test_claim_keys_are_truncated_sha256_of_scope_and_nonce(pairs: list[tuple[str, str]]) -> None:
    """Claim.keys (the hot path) and claim_key (the migration) compute the documented key:
    SHA-256(SHA-256(subject) || nonce), the first 16 bytes."""

    def reference(subject: str, nonce: str) -> bytes:
        scope = hashlib.sha256(subject.encode("utf-8")).digest()
        return hashlib.sha256(scope + nonce.encode("utf-8", "surrogatepass")).digest()[:16]

    claims = [Claim(subject, "api", nonce, 1) for subject, nonce in pairs if _encodable(nonce)]
    expected = b"".join(reference(c.subject, c.nonce) for c in claims)
    assert Claim.keys(claims) == expected
    for c in claims:
        assert claim_key(hashlib.sha256(c.subject.encode()).digest(), c.nonce) == reference(
            c.subject, c.nonce
        )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_claims_from_results_take_accepted_proofs_only() -> None:
    key = pm.SigningKey.generate()
    now = pm.now_ms()
    proofs = [pm.sign({"subject": "alice", "n": i}, key, audience="bank", timestamp_ms=now) for i in range(2)]
    results = pm.verify_batch(
        [*proofs, b"{}"], audience="bank", trusted_keys=[key.verifying_key], now_ms=now, max_age_ms=60_000
    )
    owner = types.SimpleNamespace(audience="bank", id="cli")
    claims = native_claims(results, [owner], [0] * 3, [1, 0], now_ms=now, skew_ms=30_000)
    assert claims == [
        Claim("alice", "bank", proofs[1].nonce, now + 60_000 + 30_000),
        Claim("alice", "bank", proofs[0].nonce, now + 60_000 + 30_000),
    ]
    assert results[0].expires_at_ms == now + 60_000
    for bad in ([2], [3]):  # not accepted; out of range
        with pytest.raises(ValueError):
            native_claims(results, [owner], [0] * 3, bad, now_ms=now, skew_ms=0)
    assert repr(claims[0]).startswith("Claim(subject='alice'") and len({claims[0], claims[0]}) == 1


@pytest.mark.parametrize("strategy", ["token-bucket", "fixed-window"])
def test_grouped_subject_charges_refuse_exactly_the_items_over_the_limit(strategy: str) -> None:
    rl = RateLimiter(client_limit="100/minute", subject_limit="2/minute", strategy=strategy)
    # alice's 3 do not fit at once: charged one by one, the third is refused; bob's 2 fit
    waits = rl.hit_subjects_grouped(["alice", "bob", "alice", "alice", "bob"])
    assert [bool(w) for w in waits] == [False, False, False, True, False]
    assert 1 <= waits[3] <= 60
    assert [bool(w) for w in rl.hit_subjects_grouped(["bob", "carol"])] == [True, False]
    assert rl.hit_subjects_grouped([]) == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=12), st.integers(min_value=1, max_value=4))
def test_native_grouped_charges_equal_the_python_grouping(subjects: list[str], amount: int) -> None:
    """TokenBuckets.hit_grouped against the same grouping done with hit_many (fresh
    buckets of the same quota each; GCRA refills nothing in the microseconds between)."""
    native = TokenBuckets([(amount, 3600.0)]).hit_grouped(subjects)
    ref = TokenBuckets([(amount, 3600.0)])
    positions: dict[str, list[int]] = {}
    for i, s in enumerate(subjects):
        positions.setdefault(s, []).append(i)
    expected = [0] * len(subjects)
    retry = []
    for s, wait in zip(positions, ref.hit_many([(s, len(at)) for s, at in positions.items()]), strict=True):
        if wait and len(positions[s]) == 1:
            expected[positions[s][0]] = wait
        elif wait:
            retry.append(s)
    for s in retry:
        for i in positions[s]:
            expected[i] = ref.hit(s, 1)
    assert [bool(w) for w in native] == [bool(w) for w in expected]
    assert all(abs(a - b) <= 1 for a, b in zip(native, expected, strict=True))

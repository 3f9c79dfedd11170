"""Scale-out on a real redis-server: shared nonces, challenges and rate limits."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import httpx
import proof_messenger as pm
from proof_messenger.relay import errors
from proof_messenger.relay.stores.limits import RateLimiter
from proof_messenger.relay.stores.replay import Claim, RedisReplayStore

from .conftest import RedisServer, RelayProcess, sign, start_relay


def test_redis_replay_store_semantics(redis_server: RedisServer) -> None:
    a, b = RedisReplayStore(redis_server.url), RedisReplayStore(redis_server.url)
    c = Claim("alice", "api", "nonce-1", expires_at_ms=10_000)
    assert a.consume([c, c], now_ms=1) == [None, errors.NONCE_REPLAYED]
    assert b.consume([c], now_ms=2) == [errors.NONCE_REPLAYED]  # another process sees it
    assert b.consume([Claim("bob", "api", "nonce-1", 10_000)], now_ms=2) == [None]  # scoped per subject
    ch = a.issue_challenge("alice", "api", ttl_ms=1000, now_ms=0)
    assert b.consume([Claim("alice", "x", ch.nonce, 10**6)], now_ms=1) == [errors.CHALLENGE_BINDING_MISMATCH]
    assert b.consume([Claim("alice", "api", ch.nonce, 10**6)], now_ms=1) == [None]
    assert a.consume([Claim("alice", "api", ch.nonce, 10**6)], now_ms=2) == [errors.NONCE_REPLAYED]
    late = a.issue_challenge("alice", "api", ttl_ms=1000, now_ms=0)
    assert b.consume([Claim("alice", "api", late.nonce, 10**6)], now_ms=1001) == [errors.CHALLENGE_EXPIRED]
    assert a.consume([Claim("alice", "api", "own", 10**6)], now_ms=1, require_challenge=True) == [
        errors.CHALLENGE_UNKNOWN
    ]
    # the nonce record expires with its window (SET PX)
    ttl = a.client.pttl(a._keys(c)[1])
    assert 0 < ttl <= 10_000
    a.close(), b.close()


def test_a_flushed_redis_refuses_the_claims_it_cannot_vouch_for(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Window 300 s + 2 x 30 s: after a loss noticed at t = 1,000,000 ms, a claim expiring
    before 1,360,000 (a proof signed before the loss + skew) is refused, a later one is
    not; a store that never saw the old epoch learns the loss from the new one, and a
    store restarted from its epoch file keeps refusing."""
    a = RedisReplayStore(redis_server.url, epoch_file=tmp_path / "a.epoch")
    b = RedisReplayStore(redis_server.url)
    assert a.consume([Claim("alice", "api", "n-0", 500_000)], now_ms=100_000) == [None]
    a.client.flushall()
    old, edge, fresh = (
        Claim("alice", "api", f"n-{i}", e) for i, e in ((1, 1_000_000), (2, 1_359_999), (3, 1_360_000))
    )
    assert a.consume([old, edge, fresh], now_ms=1_000_000) == [errors.NONCE_REPLAYED] * 2 + [None]
    late = RedisReplayStore(redis_server.url)  # never knew the first epoch
    assert late.consume([Claim("bob", "api", "n-4", 1_200_000)], now_ms=1_000_001) == [errors.NONCE_REPLAYED]
    assert b.consume([Claim("bob", "api", "n-5", 1_360_000)], now_ms=1_000_002) == [None]
    again = RedisReplayStore(redis_server.url, epoch_file=tmp_path / "a.epoch")
    assert again.consume([Claim("carol", "api", "n-6", 1_300_000)], now_ms=1_000_003) == [
        errors.NONCE_REPLAYED
    ]
    for store in (a, b, late, again):
        store.close()


def test_redis_without_a_loss_refuses_nothing_extra(redis_server: RedisServer, tmp_path: Path) -> None:
    """A first start (no epoch anywhere) is not a loss, nor is a relay's own restart."""
    a = RedisReplayStore(redis_server.url, epoch_file=tmp_path / "e")
    assert a.consume([Claim("alice", "api", "x-1", 10_000)], now_ms=1) == [None]
    a.close()
    b = RedisReplayStore(redis_server.url, epoch_file=tmp_path / "e")
    assert b.consume([Claim("alice", "api", "x-2", 10_000)], now_ms=2) == [None]
    assert b.persistence_warnings() == [
        "Redis has appendonly no: a restart forgets every nonce (set appendonly yes)"
    ]
    b.client.config_set("appendonly", "yes")
    assert b.persistence_warnings() == []
    b.client.config_set("appendfsync", "no")
    assert b.persistence_warnings() == ["Redis appendfsync is 'no': use always or everysec"]
    b.client.config_set("appendonly", "no")  # as the fixture started it (its shutdown stays quick)
    b.close()


def test_redis_nonce_atomic_under_contention(redis_server: RedisServer) -> None:
    stores = [RedisReplayStore(redis_server.url) for _ in range(8)]
    barrier = threading.Barrier(8)
    results: list[str | None] = []
    lock = threading.Lock()

    def worker(store: RedisReplayStore) -> None:
        barrier.wait()
        out = store.consume([Claim("alice", "api", f"n{i}", 10**13) for i in range(50)], now_ms=1)
        with lock:
            results.extend(out)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 50 and len(results) == 400


def test_redis_rate_limits_are_shared(redis_server: RedisServer) -> None:
    a = RateLimiter(client_limit="3/minute", subject_limit="1/minute", redis_url=redis_server.url)
    b = RateLimiter(client_limit="3/minute", subject_limit="1/minute", redis_url=redis_server.url)
    assert a.hit_client("c").allowed and b.hit_client("c").allowed and a.hit_client("c").allowed
    d = b.hit_client("c")
    assert not d.allowed and d.retry_after_s >= 1
    assert a.hit_subject("alice").allowed and not b.hit_subject("alice").allowed


def _prepare(relay: RelayProcess, http: httpx.Client, keys: list[pm.SigningKey]) -> dict[str, str]:
    r = http.post(
        f"{relay.url}/v1/admin/clients",
        json={"name": "bank", "audience": "payments-api"},
        headers=relay.admin,
    )
    for i, key in enumerate(keys):
        e = http.post(
            f"{relay.url}/v1/admin/keys",
            json={"subject": f"user{i}", "publicKey": key.verifying_key.to_base64()},
            headers=relay.admin,
        )
        assert e.status_code == 201
    return {"authorization": f"Bearer {r.json()['apiKey']}", "content-type": "application/json"}


def test_two_relays_one_redis_accept_each_proof_once(tmp_path: Path, redis_server: RedisServer) -> None:
    """Two relay processes ("hosts": separate data dirs) share one Redis; the same proof is
    sent to both at the same moment: exactly one accepts it."""
    relays = [
        start_relay(
            tmp_path / f"host{i}", "--redis-url", redis_server.url, "--rate-limit-subject", "1000/minute"
        )
        for i in range(2)
    ]
    try:
        keys = [pm.SigningKey.generate() for _ in range(5)]
        with httpx.Client(timeout=20) as http:
            headers = [_prepare(r, http, keys) for r in relays]
        outcomes: list[list[dict]] = []
        for round_ in range(20):
            proof = sign(keys[round_ % 5], subject=f"user{round_ % 5}").to_json()
            barrier = threading.Barrier(2)
            got: list[dict] = [{}, {}]

            def send(i: int, proof: bytes, barrier: threading.Barrier, got: list[dict]) -> None:
                with httpx.Client(timeout=20) as http:
                    barrier.wait()
                    got[i] = http.post(
                        f"{relays[i].url}/v1/proofs/verify", content=proof, headers=headers[i]
                    ).json()

            threads = [threading.Thread(target=send, args=(i, proof, barrier, got)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            outcomes.append(got)
        for got in outcomes:
            assert sorted((v["valid"], v["code"]) for v in got) == [
                (False, "nonce_replayed"),
                (True, None),
            ], got
        # a batch on one host sees nonces accepted by the other
        with httpx.Client(timeout=20) as http:
            fresh = sign(keys[0], subject="user0").to_json()
            assert http.post(f"{relays[0].url}/v1/proofs/verify", content=fresh, headers=headers[0]).json()[
                "valid"
            ]
            r = http.post(
                f"{relays[1].url}/v1/proofs/verify-batch",
                content=fresh + b"\n",
                headers={**headers[1], "content-type": "application/x-ndjson"},
            )
            assert r.json()["results"][0]["code"] == "nonce_replayed"
    finally:
        for r in relays:
            assert r.stop() == 0


def test_two_relays_share_subject_rate_limit(tmp_path: Path, redis_server: RedisServer) -> None:
    """A subject's budget is the pair (API client, subject): the same client on two hosts
    (the second host's registry copied from the first, as a replicated registry would
    hold it) spends one budget through Redis."""
    args = ("--redis-url", redis_server.url, "--rate-limit-subject", "3/minute")
    first = start_relay(tmp_path / "h0", *args)
    key = pm.SigningKey.generate()
    with httpx.Client(timeout=20) as http:
        headers = _prepare(first, http, [key])
    assert first.stop() == 0
    (tmp_path / "h1").mkdir(mode=0o700)
    for db in (tmp_path / "h0").glob("relay.sqlite3*"):  # with its WAL, if one is left
        shutil.copy2(db, tmp_path / "h1" / db.name)
    relays = [start_relay(tmp_path / f"h{i}", *args) for i in range(2)]
    try:
        with httpx.Client(timeout=20) as http:
            statuses = [
                http.post(
                    f"{relays[i % 2].url}/v1/proofs/verify",
                    content=sign(key, subject="user0").to_json(),
                    headers=headers,
                ).status_code
                for i in range(5)
            ]
        assert statuses == [200, 200, 200, 429, 429]
    finally:
        for r in relays:
            r.stop()


def test_redis_outage_is_503(tmp_path: Path, redis_server: RedisServer) -> None:
    relay = start_relay(tmp_path / "h", "--redis-url", redis_server.url)
    try:
        key = pm.SigningKey.generate()
        with httpx.Client(timeout=30) as http:
            headers = _prepare(relay, http, [key])
            assert http.post(
                f"{relay.url}/v1/proofs/verify", content=sign(key, subject="user0").to_json(), headers=headers
            ).json()["valid"]
            redis_server.proc.terminate()
            redis_server.proc.wait(timeout=10)
            r = http.post(
                f"{relay.url}/v1/proofs/verify", content=sign(key, subject="user0").to_json(), headers=headers
            )
            assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"
            ready = http.get(f"{relay.url}/readyz")
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
    finally:
        relay.stop()

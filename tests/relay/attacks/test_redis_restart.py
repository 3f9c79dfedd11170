"""Replay after a Redis restart (issue 13, medium).

Before: with ``--redis-url`` the one-time nonce records lived only in Redis memory, and
the same 50,000.00 proof was accepted again after Redis restarted. Now the relay sees
that Redis lost its replay state (its epoch key is gone) and refuses every proof that
could have been accepted before the loss; proofs signed after it are accepted.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from ..conftest import RedisServer, sign, start_relay
from .conftest import enroll, new_client

SKEW_MS = 1000


def test_a_proof_accepted_before_a_redis_restart_is_not_accepted_again(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    relay = start_relay(tmp_path / "data", "--redis-url", redis_server.url, "--max-skew-ms", str(SKEW_MS))
    try:
        log = relay.stderr_path.read_text()
        assert "appendonly no" in log  # the test's Redis keeps nothing: the relay says so
        with httpx.Client(timeout=10) as http:
            key = new_client(relay, http)
            alice = enroll(relay, http)
            headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
            wire = sign(alice, context={"amount": "50000.00"}).to_json()
            other = sign(alice, context={"amount": "10.00"}).to_json()  # signed before, sent after
            third = sign(alice, context={"amount": "30.00"}).to_json()  # signed before, sent much later
            assert http.post(f"{relay.url}/v1/proofs/verify", content=wire, headers=headers).json()["valid"]

            redis_server.restart()

            again = http.post(f"{relay.url}/v1/proofs/verify", content=wire, headers=headers)
            assert again.status_code == 200, again.text
            assert (again.json()["valid"], again.json()["code"]) == (False, "nonce_replayed")
            # a proof from before the loss is refused too: the relay cannot know it was unused
            v = http.post(f"{relay.url}/v1/proofs/verify", content=other, headers=headers).json()
            assert (v["valid"], v["code"]) == (False, "nonce_replayed")
            assert "Redis lost the replay state" in relay.stderr_path.read_text()
            time.sleep(2 * SKEW_MS / 1000)
            fresh = sign(alice, context={"amount": "20.00"}).to_json()  # signed after the loss
            v = http.post(f"{relay.url}/v1/proofs/verify", content=fresh, headers=headers).json()
            assert v["valid"] is True, v
            v = http.post(f"{relay.url}/v1/proofs/verify", content=fresh, headers=headers).json()
            assert (v["valid"], v["code"]) == (False, "nonce_replayed")
    finally:
        relay.stop()

    # the relay restarted after the loss still refuses what predates it (it remembers the
    # epoch in its data directory, and the new epoch says "lost")
    relay = start_relay(tmp_path / "data", "--redis-url", redis_server.url, "--max-skew-ms", str(SKEW_MS))
    try:
        with httpx.Client(timeout=10) as http:
            v = http.post(f"{relay.url}/v1/proofs/verify", content=third, headers=headers).json()
            assert (v["valid"], v["code"]) == (False, "nonce_replayed")
    finally:
        relay.stop()

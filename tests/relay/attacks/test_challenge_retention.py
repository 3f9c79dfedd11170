"""A challenge must stay known as long as a proof made for it can still be fresh.

The attack: with ``max_age_ms`` 900,000 (15 minutes), sign a proof with a challenge's nonce
just before the challenge expires and send it later. Once the relay has forgotten the
expired challenge, the nonce looks like a client-chosen one and the proof is accepted
(it was at +720 s with the earlier fixed 600 s retention). Every late send must be
``challenge_expired``, whatever the configured window.
"""

from __future__ import annotations

import proof_messenger as pm
import pytest
from proof_messenger.relay.stores.replay import RedisReplayStore

from ..conftest import RedisServer, sign

pytestmark = pytest.mark.anyio

MAX_AGE_MS = 900_000
MAX_SKEW_MS = 30_000


async def test_a_proof_for_an_expired_challenge_is_refused_until_it_is_stale(make_harness) -> None:
    async with make_harness(max_age_ms=MAX_AGE_MS, max_skew_ms=MAX_SKEW_MS) as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        for late_s in (120, 720, 890):
            h.clock.offset_ms = 0
            r = await h.http.post(
                "/v1/challenges", json={"subject": "alice", "ttlMs": 60_000}, headers=client
            )
            assert r.status_code == 201, r.text
            ch = r.json()
            # signed a moment before the challenge expires: fresh until expiry + max_age
            proof = sign(key, nonce=ch["nonce"], timestamp_ms=ch["expiresAt"] - 1)
            h.clock.offset_ms = ch["expiresAt"] + late_s * 1000 - pm.now_ms()
            h.relay.purge()  # the housekeeping that runs every minute has run
            v = (await h.verify(proof, client)).json()
            assert (v["valid"], v["code"]) == (False, "challenge_expired"), (late_s, v)
        # and once the proof is stale, freshness refuses it whatever the store remembers
        h.clock.offset_ms += MAX_AGE_MS
        h.relay.purge()
        v = (await h.verify(proof, client)).json()
        assert (v["valid"], v["code"]) == (False, "proof_expired"), v


async def test_the_retention_follows_the_configured_window(make_harness) -> None:
    async with make_harness(max_age_ms=60_000, max_skew_ms=5_000) as h:
        assert h.relay.replay.challenge_retention_ms == 65_000
    async with make_harness(max_age_ms=MAX_AGE_MS, max_skew_ms=MAX_SKEW_MS) as h:
        assert h.relay.replay.challenge_retention_ms == MAX_AGE_MS + MAX_SKEW_MS


def test_redis_keeps_a_challenge_for_its_ttl_and_the_window(redis_server: RedisServer) -> None:
    store = RedisReplayStore(redis_server.url, challenge_retention_ms=MAX_AGE_MS + MAX_SKEW_MS)
    try:
        ch = store.issue_challenge("alice", "payments-api", ttl_ms=60_000, now_ms=0)
        pttl = store.client.pttl(f"{store.prefix}{{{ch.nonce}}}:c")
        assert 60_000 + MAX_AGE_MS + MAX_SKEW_MS - 5_000 < pttl <= 60_000 + MAX_AGE_MS + MAX_SKEW_MS
    finally:
        store.close()

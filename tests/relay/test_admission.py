"""Admission's own bookkeeping: the key cache, the failure buckets and the in-flight
bounds, with a fake clock (the attacks on a real relay are in attacks/test_admission.py)."""

from __future__ import annotations

import pytest
from proof_messenger.relay.errors import Refused
from proof_messenger.relay.http.admission import Admission, AdmissionLimits
from proof_messenger.relay.stores.clients import SqlClientStore
from proof_messenger.relay.stores.db import SqliteDatabase


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class CountingStore(SqlClientStore):
    lookups = 0

    def authenticate(self, api_key: str):  # type: ignore[no-untyped-def]
        self.lookups += 1
        return super().authenticate(api_key)


@pytest.fixture
def store() -> CountingStore:
    return CountingStore(SqliteDatabase(":memory:"))


@pytest.mark.anyio
async def test_a_key_in_use_is_looked_up_once_and_forgotten_when_idle_or_refused(
    store: CountingStore,
) -> None:
    clock = Clock()
    admission = Admission(store, AdmissionLimits(cache_ttl_s=5), clock=clock)
    client, key = store.create("c", audience="a", now_ms=1)
    for _ in range(4):  # in use: every request extends the entry
        assert (await admission.authenticate(key, "10.0.0.1")).id == client.id
        clock.t += 4
    assert store.lookups == 1
    clock.t += 1.1  # 5.1 s idle: looked up again
    await admission.authenticate(key, "10.0.0.1")
    assert store.lookups == 2
    store.revoke(client.id, now_ms=2)
    admission.forget(key)  # what the verify endpoint does when the engine refuses the key
    with pytest.raises(Refused) as refused:
        await admission.authenticate(key, "10.0.0.1")
    assert refused.value.code == "unauthorized" and store.lookups == 3


@pytest.mark.anyio
async def test_the_key_cache_is_bounded(store: CountingStore) -> None:
    admission = Admission(store, AdmissionLimits(max_cached_keys=2, auth_failure_limit="100/second"))
    keys = [store.create(f"c{i}", audience="a", now_ms=1)[1] for i in range(3)]
    for key in keys:
        await admission.authenticate(key, "10.0.0.1")
    assert len(admission._known) == 2
    await admission.authenticate(keys[0], "10.0.0.1")  # the oldest was evicted: looked up again
    assert store.lookups == 4


@pytest.mark.anyio
async def test_failures_are_charged_per_source_and_an_untrackable_source_is_refused(
    store: CountingStore,
) -> None:
    admission = Admission(store, AdmissionLimits(auth_failure_limit="2/minute", max_sources=3))
    codes = []
    for _ in range(3):
        try:
            await admission.authenticate("pmk_nope", "10.0.0.1")
        except Refused as exc:
            codes.append(exc.code)
    assert codes == ["unauthorized", "unauthorized", "rate_limited"]
    assert store.lookups == 2  # the third cost no lookup
    with pytest.raises(Refused) as other:
        await admission.authenticate(None, "10.0.0.2")  # another source has its own budget
    assert other.value.code == "unauthorized"
    for source in ("10.0.0.3", "10.0.0.4", "10.0.0.5"):  # the table passes max_sources
        with pytest.raises(Refused):
            await admission.authenticate(None, source)
    with pytest.raises(Refused) as full:  # buckets not yet refilled cannot be dropped: fail closed
        await admission.authenticate(None, "10.0.0.6")
    assert full.value.code == "rate_limited"


def test_reservations_bound_jobs_and_bytes_per_client_and_in_all(store: CountingStore) -> None:
    limits = AdmissionLimits(
        max_inflight_bytes=100, max_client_inflight_bytes=60, max_inflight_jobs=3, max_client_inflight_jobs=2
    )
    admission = Admission(store, limits)
    r1 = admission.reserve("a", 50)
    with pytest.raises(Refused) as client_share:
        admission.reserve("a", 11)  # 61 > a's 60
    assert (client_share.value.code, client_share.value.retry_after_s) == ("rate_limited", 1)
    r2 = admission.reserve("b", 45)
    with pytest.raises(Refused) as total:
        admission.reserve("c", 6)  # 101 > 100
    assert (total.value.code, total.value.retry_after_s) == ("overloaded", 1)
    r3 = admission.reserve("a", 1)
    with pytest.raises(Refused) as jobs:
        admission.reserve("a", 1)  # a's third job
    assert jobs.value.code == "rate_limited"
    with pytest.raises(Refused) as all_jobs:
        admission.reserve("c", 1)  # the relay's fourth job
    assert all_jobs.value.code == "overloaded"
    assert admission.in_flight == (3, 96)
    for r in (r1, r2, r3, r1):  # releasing twice gives nothing back twice
        r.release()
    assert admission.in_flight == (0, 0)
    assert admission._client_bytes == {} and admission._client_jobs == {}

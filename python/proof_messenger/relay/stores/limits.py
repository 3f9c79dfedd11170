"""Rate limits per API client and per subject.

Two backends, one interface:

* ``token-bucket`` (the default, in-process): the ``governor`` crate's GCRA
  (the token bucket's exact equivalent) through ``proof_messenger._core.relay.TokenBuckets``.
  "60/minute" is a bucket of 60 tokens refilled at one per second: no burst at a
  window edge, O(1) per key, and a batch of proofs is charged in one native call.
* the ``limits`` library's strategies: ``sliding-window`` (a counter, O(1)),
  ``moving-window`` (exact, O(limit) per hit) and ``fixed-window``, in memory or,
  with ``--redis-url``, in Redis so that every relay process shares the counters
  (with Redis, ``token-bucket`` means ``limits``' sliding-window counter, its
  closest shared equivalent).

>>> rl = RateLimiter(client_limit="2/minute", subject_limit="1/minute")
>>> [rl.hit_client("c1").allowed for _ in range(3)]
[True, True, False]
>>> d = rl.hit_subject("alice"), rl.hit_subject("alice")
>>> (d[0].allowed, d[1].allowed, d[1].retry_after_s >= 1)
(True, False, True)
>>> rl.hit_subjects([("bob", 1), ("carol", 2)])
[0, 60]
>>> RateLimiter(client_limit="100/minute;20/second", subject_limit="1/second").client_capacity
20
>>> RateLimiter(client_limit="100/second", subject_limit="1/second", share_of=4).client_capacity
25
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.strategies import (
    RateLimiter as _Strategy,
)

from proof_messenger._core.relay import TokenBuckets


class _MemoryStorage(MemoryStorage):
    """limits' in-process storage, purging expired counters at most once a second.

    The stock storage restarts a 10 ms ``threading.Timer`` from inside every hit
    once the previous one has fired: on a busy relay that is a thread start
    (and a wait for it) every few requests, costing more than the limit check.
    Counting is unchanged; only the purge cadence differs.
    """

    _PURGE_EVERY_S = 1.0

    def __init__(self) -> None:
        self._next_purge = 0.0
        super().__init__()

    def _MemoryStorage__schedule_expiry(self) -> None:  # overrides the name-mangled private hook
        now = time.monotonic()
        if now >= self._next_purge:
            self._next_purge = now + self._PURGE_EVERY_S
            if not self.timer.is_alive():
                expire = getattr(self, "_MemoryStorage__expire_events")  # noqa: B009 (name-mangled)
                self.timer = threading.Timer(self._PURGE_EVERY_S, expire)
                self.timer.daemon = True
                self.timer.start()


_STRATEGIES: dict[str, type[_Strategy]] = {
    "sliding-window": SlidingWindowCounterRateLimiter,
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
}


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0  # whole seconds, for the Retry-After header


ALLOWED = RateDecision(True)


def _share(item: RateLimitItem, n: int) -> RateLimitItem:
    return item if n <= 1 else type(item)(max(1, item.amount // n), item.multiples, item.namespace)


TOKEN_BUCKET = "token-bucket"  # noqa: S105 (a strategy name, not a credential)


class _LimitsBackend:
    """The ``limits`` library: memory or Redis storage, one of its strategies."""

    def __init__(self, strategy: str, redis_url: str | None, key_prefix: str) -> None:
        self.storage: Storage
        if redis_url:
            self.storage = storage_from_string(redis_url, key_prefix=key_prefix)  # type: ignore[assignment]
        else:
            self.storage = _MemoryStorage()
        self._strategy = _STRATEGIES[strategy](self.storage)

    def hit(self, items: list[RateLimitItem], scope: str, ident: str, cost: int) -> int:
        for item in items:
            if cost > item.amount:
                return max(1, item.get_expiry())  # larger than the whole budget: never passes
            if not self._strategy.hit(item, scope, ident, cost=cost):
                stats = self._strategy.get_window_stats(item, scope, ident)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return 0

    def ping(self) -> None:
        if not self.storage.check():
            raise ConnectionError("rate-limit storage is unavailable")

    def reset(self) -> None:
        self.storage.reset()


class RateLimiter:
    def __init__(
        self,
        *,
        client_limit: str,
        subject_limit: str,
        strategy: str = TOKEN_BUCKET,
        redis_url: str | None = None,
        key_prefix: str = "pm-limits",
        share_of: int = 1,
    ) -> None:
        """``share_of``: with in-process storage and N worker processes, each worker
        enforces 1/N of every limit (Redis storage is shared: exact limits)."""
        if redis_url:
            share_of = 1
        self._client_items = [_share(i, share_of) for i in parse_many(client_limit)]
        self._subject_items = [_share(i, share_of) for i in parse_many(subject_limit)]
        self._native: tuple[TokenBuckets, TokenBuckets] | None = None
        self._limits: _LimitsBackend | None = None
        if strategy == TOKEN_BUCKET and not redis_url:
            self._native = (self._buckets(self._client_items), self._buckets(self._subject_items))
        else:
            shared = "sliding-window" if strategy == TOKEN_BUCKET else strategy
            self._limits = _LimitsBackend(shared, redis_url, key_prefix)

    @property
    def client_capacity(self) -> int:
        """The most proofs one request can be charged by the client limit (its smallest
        budget): a larger batch can never pass, however long the client waits."""
        return min(i.amount for i in self._client_items)

    @staticmethod
    def _buckets(items: list[RateLimitItem]) -> TokenBuckets:
        return TokenBuckets([(i.amount, float(i.get_expiry())) for i in items])

    def hit_client(self, client_id: str, cost: int = 1) -> RateDecision:
        if self._native is not None:
            return _decision(self._native[0].hit(client_id, cost))
        return _decision(self._hit_limits(self._client_items, "client", client_id, cost))

    def hit_subject(self, subject: str, cost: int = 1) -> RateDecision:
        return _decision(self.hit_subjects([(subject, cost)])[0])

    def hit_subjects(self, costs: Sequence[tuple[str, int]]) -> list[int]:
        """Charges each ``(subject, cost)`` in order; returns the seconds to wait for
        each (0: allowed). One native call for a whole batch with token buckets."""
        if self._native is not None:
            return self._native[1].hit_many(list(costs))
        return [self._hit_limits(self._subject_items, "subject", s, c) for s, c in costs]

    def hit_subjects_grouped(self, subjects: Sequence[str]) -> list[int]:
        """One unit per item of ``subjects`` (a subject may repeat): each subject is
        charged its count at once when that fits, else unit by unit in order, so exactly
        the items over the limit are refused. Returns the seconds to wait per item."""
        if self._native is not None:
            return self._native[1].hit_grouped(list(subjects))
        positions: dict[str, list[int]] = {}
        for i, subject in enumerate(subjects):
            positions.setdefault(subject, []).append(i)
        waits = [0] * len(subjects)
        retry: list[str] = []
        for subject, wait in zip(
            positions, self.hit_subjects([(s, len(at)) for s, at in positions.items()]), strict=True
        ):
            if wait and len(positions[subject]) == 1:
                waits[positions[subject][0]] = wait
            elif wait:
                retry.append(subject)
        if retry:
            singles = self.hit_subjects([(s, 1) for s in retry for _ in positions[s]])
            for i, wait in zip((i for s in retry for i in positions[s]), singles, strict=True):
                waits[i] = wait
        return waits

    def _hit_limits(self, items: list[RateLimitItem], scope: str, ident: str, cost: int) -> int:
        assert self._limits is not None
        return self._limits.hit(items, scope, ident, cost)

    def ping(self) -> None:
        if self._limits is not None:
            self._limits.ping()

    def purge(self) -> None:
        """Drops in-process buckets that are full again (the relay calls it periodically)."""
        if self._native is not None:
            for buckets in self._native:
                buckets.retain_recent()

    def reset(self) -> None:
        if self._native is not None:
            self._native = (self._buckets(self._client_items), self._buckets(self._subject_items))
        elif self._limits is not None:
            self._limits.reset()


def token_buckets(spec: str) -> TokenBuckets:
    """In-process token buckets for a limit such as ``"20/second"`` (every quota of a
    ``;``-separated list must fit), for limits that stay in one process."""
    return RateLimiter._buckets(list(parse_many(spec)))


def _decision(wait_s: int) -> RateDecision:
    return ALLOWED if wait_s == 0 else RateDecision(False, wait_s)

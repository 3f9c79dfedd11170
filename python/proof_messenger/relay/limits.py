"""Rate limits per API client and per subject, on the `limits` library.

The default strategy is the sliding-window counter: O(1) per key, smooth like
a token bucket (no burst at a window edge), and the same Lua-backed algorithm
in Redis. ``moving-window`` is exact but costs O(limit) per hit; ``fixed-window``
is the cheapest. Storage is in-process memory by default and Redis with
``--redis-url`` so every relay process shares the counters.

>>> rl = RateLimiter(client_limit="2/minute", subject_limit="1/minute")
>>> [rl.hit_client("c1").allowed for _ in range(3)]
[True, True, False]
>>> d = rl.hit_subject("alice"), rl.hit_subject("alice")
>>> (d[0].allowed, d[1].allowed, d[1].retry_after_s >= 1)
(True, False, True)
"""

from __future__ import annotations

import math
import threading
import time
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


class RateLimiter:
    def __init__(
        self,
        *,
        client_limit: str,
        subject_limit: str,
        strategy: str = "sliding-window",
        redis_url: str | None = None,
        key_prefix: str = "pm-limits",
        share_of: int = 1,
    ) -> None:
        """``share_of``: with in-process storage and N worker processes, each worker
        enforces 1/N of every limit (Redis storage is shared: exact limits)."""
        self.storage: Storage
        if redis_url:
            self.storage = storage_from_string(redis_url, key_prefix=key_prefix)  # type: ignore[assignment]
            share_of = 1
        else:
            self.storage = _MemoryStorage()
        self._strategy = _STRATEGIES[strategy](self.storage)
        self._client_items = [_share(i, share_of) for i in parse_many(client_limit)]
        self._subject_items = [_share(i, share_of) for i in parse_many(subject_limit)]

    def hit_client(self, client_id: str, cost: int = 1) -> RateDecision:
        return self._hit(self._client_items, "client", client_id, cost)

    def hit_subject(self, subject: str, cost: int = 1) -> RateDecision:
        return self._hit(self._subject_items, "subject", subject, cost)

    def _hit(self, items: list[RateLimitItem], scope: str, ident: str, cost: int) -> RateDecision:
        for item in items:
            if cost > item.amount:
                # Larger than the whole budget: can never pass; wait a full window.
                return RateDecision(False, max(1, item.get_expiry()))
            if not self._strategy.hit(item, scope, ident, cost=cost):
                stats = self._strategy.get_window_stats(item, scope, ident)
                wait = stats.reset_time - time.time()
                return RateDecision(False, max(1, math.ceil(wait)))
        return ALLOWED

    def ping(self) -> None:
        if not self.storage.check():
            raise ConnectionError("rate-limit storage is unavailable")

    def reset(self) -> None:
        self.storage.reset()

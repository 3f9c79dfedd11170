"""Admission to the verification endpoints: who gets a body read, and how much is held.

A verification request is admitted before one byte of its body is read:

1. its bearer API key is authenticated (the client store's indexed lookup and
   constant-time comparison, off the event loop). A key that authenticated is
   remembered by its SHA-256 while it is in use (until ``cache_ttl_s`` pass
   without a request), so a busy client costs a hash and a dict lookup, not a
   query. Admission is not the authority: the engine authenticates every group
   against the store, so a revoked key is refused (401) by the engine at once,
   and that refusal makes admission forget it (:meth:`Admission.forget`): from
   the next request on it is refused before its body is read.
2. a source (the connection's peer address) that keeps presenting no key or
   unknown keys is limited (``auth_failure_limit``, per source): over it, a
   request that would need a store lookup is answered 429 without one. A
   key already remembered is still admitted, so a flood of bad keys from a
   shared proxy address does not lock its legitimate clients out.
3. the request reserves its body's bytes (the declared Content-Length, else
   the endpoint's limit) and one job slot, per client and in all: over a
   client's share it is 429, over the relay's 503, both with ``Retry-After``
   and nothing read or queued. The reservation is released once the request
   is answered, so what an outsider can make the relay hold is bounded by
   ``max_inflight_bytes`` and ``max_inflight_jobs`` whatever the connections.

The tables here are bounded too: the key cache holds at most
``max_cached_keys`` entries, and the failure buckets are pruned when they
pass ``max_sources`` (a source that cannot be tracked counts as over its limit).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .. import errors
from ..errors import Refused
from ..stores.clients import ApiClient, ClientStore, hash_key
from ..stores.limits import token_buckets


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    max_inflight_bytes: int = 64 * 1024 * 1024
    max_client_inflight_bytes: int = 16 * 1024 * 1024
    max_inflight_jobs: int = 4096
    max_client_inflight_jobs: int = 1024
    auth_failure_limit: str = "20/second"
    cache_ttl_s: float = 5.0
    max_cached_keys: int = 10_000
    max_sources: int = 100_000


class Reservation:
    """One admitted request's share of the bounds; :meth:`release` gives it back (once)."""

    __slots__ = ("_admission", "_bytes", "_client_id", "_released")

    def __init__(self, admission: Admission, client_id: str, nbytes: int) -> None:
        self._admission = admission
        self._client_id = client_id
        self._bytes = nbytes
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._admission._give_back(self._client_id, self._bytes)


class Admission:
    """Admits verification requests (one event loop: no locks needed)."""

    def __init__(
        self,
        clients: ClientStore,
        limits: AdmissionLimits = AdmissionLimits(),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.limits = limits
        self.clock = clock
        self._known: OrderedDict[str, tuple[ApiClient, float]] = OrderedDict()
        self._failures = token_buckets(limits.auth_failure_limit)
        self._bytes = 0
        self._jobs = 0
        self._client_bytes: dict[str, int] = {}
        self._client_jobs: dict[str, int] = {}

    # -- who ----------------------------------------------------------------------

    async def authenticate(self, token: str | None, source: str | None) -> ApiClient:
        """The active client holding ``token``; else 401, or 429 once ``source`` has failed
        too often. A remembered key is admitted without a lookup."""
        digest = None
        if token is not None:
            digest = hash_key(token)
            hit = self._known.get(digest)
            now = self.clock()
            if hit is not None and hit[1] > now:
                self._known[digest] = (hit[0], now + self.limits.cache_ttl_s)
                self._known.move_to_end(digest)
                return hit[0]
        self._spend_failure_budget(source)
        if token is None:
            raise Refused(errors.UNAUTHORIZED, "missing bearer API key")
        loop = asyncio.get_running_loop()
        client = await loop.run_in_executor(None, self.clients.authenticate, token)
        if client is None:
            raise Refused(errors.UNAUTHORIZED, "unknown or revoked API key")
        assert digest is not None
        self._remember(digest, client)
        return client

    def _spend_failure_budget(self, source: str | None) -> None:
        """A lookup (or a request without a key, which is sure to fail) costs its source one
        unit of ``auth_failure_limit``; a success does not refund it, so an attacker cannot
        interleave one good key to keep a flood going. The unit is charged before the
        lookup: a source over its limit gets 429 and no store work."""
        failures = self._failures
        if len(failures) > self.limits.max_sources:
            failures.retain_recent()
        key = source or "-"
        if len(failures) > self.limits.max_sources:  # still full of busy sources: fail closed
            wait = 1
        else:
            wait = failures.hit(key, 1)
        if wait:
            raise Refused(
                errors.RATE_LIMITED,
                "too many unauthenticated requests from this source",
                retry_after_s=wait,
            )

    def forget(self, token: str) -> None:
        """The engine refused ``token`` (revoked since it was remembered): look it up again."""
        self._known.pop(hash_key(token), None)

    def _remember(self, digest: str, client: ApiClient) -> None:
        self._known[digest] = (client, self.clock() + self.limits.cache_ttl_s)
        self._known.move_to_end(digest)
        while len(self._known) > self.limits.max_cached_keys:
            self._known.popitem(last=False)

    # -- how much -------------------------------------------------------------------

    def reserve(self, client_id: str, nbytes: int) -> Reservation:
        """Reserves one job and ``nbytes`` of body for ``client_id``, or refuses: 429 over
        the client's share, 503 ``overloaded`` over the relay's (Retry-After: 1 both)."""
        lim = self.limits
        cb, cj = self._client_bytes.get(client_id, 0), self._client_jobs.get(client_id, 0)
        if cb + nbytes > lim.max_client_inflight_bytes or cj + 1 > lim.max_client_inflight_jobs:
            raise Refused(
                errors.RATE_LIMITED, "too many requests of this client in progress", retry_after_s=1
            )
        if self._bytes + nbytes > lim.max_inflight_bytes or self._jobs + 1 > lim.max_inflight_jobs:
            raise Refused(errors.OVERLOADED, "the relay is at its in-flight limit", retry_after_s=1)
        self._bytes += nbytes
        self._jobs += 1
        self._client_bytes[client_id] = cb + nbytes
        self._client_jobs[client_id] = cj + 1
        return Reservation(self, client_id, nbytes)

    def _give_back(self, client_id: str, nbytes: int) -> None:
        self._bytes -= nbytes
        self._jobs -= 1
        left = self._client_jobs[client_id] - 1
        if left:
            self._client_jobs[client_id] = left
            self._client_bytes[client_id] -= nbytes
        else:  # the tables hold only clients with requests in progress
            del self._client_jobs[client_id]
            del self._client_bytes[client_id]

    @property
    def in_flight(self) -> tuple[int, int]:
        """(jobs, body bytes) reserved now."""
        return self._jobs, self._bytes

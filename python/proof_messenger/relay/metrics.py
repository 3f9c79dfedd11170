"""Prometheus metrics, one registry per app instance (tests run many apps).

>>> m = RelayMetrics()
>>> m.count_decisions([(True, None), (False, "bad_signature"), (False, "bad_signature")])
>>> b"reason=\\"bad_signature\\",result=\\"invalid\\"} 2.0" in m.render()[0]
True
"""

from __future__ import annotations

from collections import Counter as _Tally
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RelayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.verifications = Counter(
            "proof_messenger_verifications",
            "Proof verdicts by result (valid/invalid) and reason code.",
            ["result", "reason"],
            registry=r,
        )
        self.rejected_requests = Counter(
            "proof_messenger_rejected_requests",
            "Verification requests refused before any verdict, by code.",
            ["code"],
            registry=r,
        )
        self.rate_limited = Counter(
            "proof_messenger_rate_limit_rejections",
            "Rate-limit rejections by scope (client/subject).",
            ["scope"],
            registry=r,
        )
        self.http_requests = Counter(
            "proof_messenger_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "proof_messenger_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.verify_latency = Histogram(
            "proof_messenger_verification_duration_seconds",
            "Time from a verification request's body to its verdicts (queueing + pipeline), by endpoint.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "proof_messenger_batch_size",
            "Proofs per verify-batch request.",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=r,
        )
        self.in_flight = Gauge("proof_messenger_http_in_flight", "HTTP requests in progress.", registry=r)
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        # Label children are cached: labels() takes a lock and builds a key on every call.
        key = (method, route, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = (
                self.http_requests.labels(method, route, str(status)),
                self.http_latency.labels(route),
            )
        child[0].inc()
        child[1].observe(seconds)

    def count_decisions(self, outcomes: Iterable[tuple[bool, str | None]]) -> None:
        """Counts (valid, code) pairs; a batch costs one increment per distinct pair."""
        for (valid, code), n in _Tally(outcomes).items():
            self.verifications.labels("valid" if valid else "invalid", code or "ok").inc(n)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

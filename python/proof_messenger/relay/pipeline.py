"""The verification pipeline: one function call per step, cheapest first.

    bytes -> structure + algorithm allowlist (core parser)
          -> client authentication + rate limit (per client, per subject)
          -> key authenticity, audience, freshness, signature (core verify / verify_batch,
             keys resolved from the registry, never from the proof)
          -> replay (nonce consumed atomically)
          -> audit receipt + decision event -> verdicts

The pipeline decides nothing the core decides: it hands the core the keys
enrolled *now* for each subject and the policy values, and keeps only what is
the service's: who may ask, how often, and whether a nonce was seen before.
The body-size limit and content type are checked by the HTTP layer before
the bytes reach :meth:`Pipeline.run`.

It is synchronous and thread-safe; the same object backs the HTTP relay and
the embedded verifier of :mod:`proof_messenger.integrations`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import proof_messenger as pm

from . import errors
from .audit import AuditSink
from .clients import ApiClient
from .decision import Decision
from .events import DecisionEvents
from .keys import KeyRecord, KeyRegistry
from .limits import RateLimiter
from .metrics import RelayMetrics
from .replay import Challenge, Claim, ReplayStore

_REPLAY_DETAIL = {
    errors.NONCE_REPLAYED: "this nonce was already accepted once",
    errors.CHALLENGE_UNKNOWN: "the nonce is not a challenge issued by this relay",
    errors.CHALLENGE_MISMATCH: "the challenge was issued for another subject or audience",
    errors.CHALLENGE_EXPIRED: "the challenge has expired",
}


@dataclass(frozen=True, slots=True)
class Policy:
    max_age_ms: int = pm.DEFAULT_MAX_AGE_MS
    max_skew_ms: int = pm.DEFAULT_MAX_SKEW_MS
    max_proof_bytes: int = pm.DEFAULT_MAX_BYTES
    max_depth: int = pm.DEFAULT_MAX_DEPTH
    require_challenge: bool = False
    challenge_ttl_ms: int = 120_000


class _KeyCache:
    """Parsed VerifyingKeys by raw bytes: parsing (point decompression) is pure
    and costs more than the lookup, so it is done once per key. Trust is not
    cached: the registry is asked on every request."""

    def __init__(self, limit: int = 100_000) -> None:
        self._keys: dict[bytes, pm.VerifyingKey] = {}
        self._limit = limit

    def get(self, raw: bytes) -> pm.VerifyingKey:
        vk = self._keys.get(raw)
        if vk is None:
            if len(self._keys) >= self._limit:
                self._keys.clear()
            vk = self._keys[raw] = pm.VerifyingKey.from_bytes(raw)
        return vk


class Pipeline:
    def __init__(
        self,
        *,
        registry: KeyRegistry,
        replay: ReplayStore,
        audit: AuditSink,
        events: DecisionEvents,
        policy: Policy = Policy(),
        limiter: RateLimiter | None = None,
        metrics: RelayMetrics | None = None,
        clock: Callable[[], int] = pm.now_ms,
    ) -> None:
        self.registry = registry
        self.replay = replay
        self.audit = audit
        self.events = events
        self.policy = policy
        self.limiter = limiter
        self.metrics = metrics
        self.clock = clock
        self._keys = _KeyCache()

    # -- the pipeline -----------------------------------------------------------

    def parse(self, data: bytes) -> pm.Proof:
        """Structure, field formats and the algorithm allowlist: the core parser."""
        return pm.Proof.from_json(data, max_bytes=self.policy.max_proof_bytes, max_depth=self.policy.max_depth)

    def run(
        self,
        items: Sequence[bytes],
        authenticate: Callable[[], ApiClient],
        *,
        single: bool = False,
        request_id: str | None = None,
        remote_addr: str | None = None,
    ) -> list[Decision]:
        """Verifies ``items`` (proof JSON bytes) for the client ``authenticate`` returns.

        ``single=True`` (the one-proof endpoint): a malformed proof or a
        subject over its rate limit rejects the request (:class:`RelayError`);
        in a batch they become that item's verdict. Everything after the rate
        limit is a verdict with a receipt.
        """
        # 1. structure and algorithm allowlist
        parsed: list[pm.Proof | pm.ProofMessengerError] = []
        for data in items:
            try:
                parsed.append(self.parse(data))
            except pm.ProofMessengerError as exc:
                if single:
                    if self.metrics:
                        self.metrics.rejected_requests.labels(exc.code).inc()
                    raise errors.RelayError(exc.code, exc.detail, status=413 if exc.code == "input_too_large" else 400) from None
                parsed.append(exc)

        # 2. who is asking, and how often
        client = authenticate()
        self._check_client_rate(client, len(items))
        now = self.clock()
        audience = client.audience
        decisions: list[Decision | None] = [None] * len(parsed)
        for i, p in enumerate(parsed):
            if isinstance(p, pm.ProofMessengerError):
                decisions[i] = Decision(False, p.code, p.detail, audience, now, client.id)
            elif p.subject is not None and not self._subject_allowed(p.subject, single):
                decisions[i] = self._from_proof(p, False, errors.RATE_LIMITED, "too many proofs for this subject", audience, now, client)

        # 3-6. key authenticity, audience, freshness, signature: the core decides
        todo = [i for i, d in enumerate(decisions) if d is None]
        if todo:
            proofs: list[pm.Proof] = [parsed[i] for i in todo]  # type: ignore[misc]
            enrolled = self.registry.active_keys({p.subject for p in proofs if p.subject is not None}, now_ms=now)
            trusted = {s: [self._keys.get(r.public_key) for r in recs] for s, recs in enrolled.items()}
            opts: dict[str, Any] = dict(
                audience=audience,
                resolver=lambda subject: trusted.get(subject, ()),
                now_ms=now,
                max_age_ms=self.policy.max_age_ms,
                max_skew_ms=self.policy.max_skew_ms,
                max_bytes=self.policy.max_proof_bytes,
                max_depth=self.policy.max_depth,
            )
            results = [pm.verify(proofs[0], **opts)] if len(proofs) == 1 else pm.verify_batch(proofs, **opts)

            # 7. replay: only proofs the core accepted may consume a nonce
            valid = [k for k, r in enumerate(results) if r.valid]
            claims = [
                Claim(results[k].subject, audience, results[k].nonce, results[k].expires_at_ms + self.policy.max_skew_ms)
                for k in valid
            ]
            outcomes = dict(zip(valid, self.replay.consume(claims, now_ms=now, require_challenge=self.policy.require_challenge)))
            for k, (i, res) in enumerate(zip(todo, results)):
                code = res.code if not res.valid else outcomes[k]
                ok = code is None
                detail = res.detail if not res.valid else _REPLAY_DETAIL.get(code or "")
                decisions[i] = Decision(
                    valid=ok,
                    code=code,
                    detail=detail,
                    audience=audience,
                    decided_at_ms=now,
                    client_id=client.id,
                    subject=res.subject,
                    key_id=res.key_id,
                    enrollment_id=_enrollment(enrolled.get(res.subject or ""), res.key_id) if res.valid else None,
                    nonce=res.nonce,
                    timestamp_ms=res.timestamp_ms,
                    context=res.context if ok else None,
                    context_digest=res.context_digest,
                )

        # 8. receipt, event, metrics
        done: list[Decision] = decisions  # type: ignore[assignment]
        self.audit.append_many(done)
        self.events.emit(done, request_id=request_id, remote_addr=remote_addr)
        if self.metrics:
            self.metrics.count_decisions((d.valid, d.code) for d in done)
        return done

    def issue_challenge(self, client: ApiClient, subject: str, ttl_ms: int | None = None) -> Challenge:
        """A one-time nonce for ``subject``, bound to the client's audience."""
        self._check_client_rate(client, 1)
        return self.replay.issue_challenge(
            subject, client.audience, ttl_ms=ttl_ms or self.policy.challenge_ttl_ms, now_ms=self.clock()
        )

    # -- helpers ----------------------------------------------------------------

    def _check_client_rate(self, client: ApiClient, cost: int) -> None:
        if self.limiter is None:
            return
        rd = self.limiter.hit_client(client.id, cost)
        if not rd.allowed:
            if self.metrics:
                self.metrics.rate_limited.labels("client").inc()
            raise errors.RelayError(
                errors.RATE_LIMITED, "client rate limit exceeded", headers={"Retry-After": str(rd.retry_after_s)}
            )

    def _subject_allowed(self, subject: str, single: bool) -> bool:
        if self.limiter is None:
            return True
        rd = self.limiter.hit_subject(subject)
        if rd.allowed:
            return True
        if self.metrics:
            self.metrics.rate_limited.labels("subject").inc()
        if single:
            raise errors.RelayError(
                errors.RATE_LIMITED, "subject rate limit exceeded", headers={"Retry-After": str(rd.retry_after_s)}
            )
        return False

    @staticmethod
    def _from_proof(
        p: pm.Proof, valid: bool, code: str, detail: str, audience: str, now: int, client: ApiClient
    ) -> Decision:
        return Decision(
            valid, code, detail, audience, now, client.id,
            subject=p.subject, key_id=p.key_id, nonce=p.nonce, timestamp_ms=p.timestamp_ms,
            context_digest=p.context_digest,
        )


def _enrollment(records: list[KeyRecord] | None, key_id: str | None) -> str | None:
    for rec in records or ():
        if rec.key_id == key_id:
            return rec.id
    return None

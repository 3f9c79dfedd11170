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
the bytes arrive here.

Work arrives as :class:`Job` s (one per HTTP request). :meth:`Pipeline.run_jobs`
runs several jobs as one group: each step is done once for the group (one
registry query, one ``verify_batch`` per audience with the GIL released, one
nonce transaction, one audit write), while every job keeps its own
authentication, rate limits, errors and verdicts.

It is synchronous and thread-safe; the same object backs the HTTP relay and
the embedded verifier of :mod:`proof_messenger.integrations`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import proof_messenger as pm

from . import errors
from .audit import AuditSink
from .clients import ApiClient
from .decision import Decision
from .errors import RelayError
from .events import DecisionEvents
from .keys import KeyRecord, KeyRegistry
from .limits import RateLimiter
from .metrics import RelayMetrics
from .replay import Challenge, Claim, ReplayStore
from .webauthn import COUNTER_DETAIL, COUNTER_NOT_INCREASING, WebAuthnHook

_REPLAY_DETAIL = {
    errors.NONCE_REPLAYED: "this nonce was already accepted once",
    errors.CHALLENGE_UNKNOWN: "the nonce is not a challenge issued by this relay",
    errors.CHALLENGE_BINDING_MISMATCH: "the challenge was issued for another subject or audience",
    errors.CHALLENGE_EXPIRED: "the challenge has expired",
    COUNTER_NOT_INCREASING: COUNTER_DETAIL,
}


@dataclass(frozen=True, slots=True)
class Policy:
    max_age_ms: int = pm.DEFAULT_MAX_AGE_MS
    max_skew_ms: int = pm.DEFAULT_MAX_SKEW_MS
    max_proof_bytes: int = pm.DEFAULT_MAX_BYTES
    max_depth: int = pm.DEFAULT_MAX_DEPTH
    require_challenge: bool = False
    challenge_ttl_ms: int = 120_000


@dataclass(eq=False, slots=True)
class Job:
    """One request's proofs. ``single``: the one-proof endpoint, where a malformed
    proof or a subject over its limit fails the request instead of becoming a verdict.
    ``credential`` (e.g. the bearer token) lets a group authenticate it only once."""

    bodies: Sequence[bytes]
    authenticate: Callable[[], ApiClient]
    single: bool = False
    credential: Hashable | None = None
    request_id: str | None = None
    remote_addr: str | None = None
    decisions: list[Decision] = field(default_factory=list)
    error: RelayError | None = None


@dataclass(eq=False, slots=True)
class Group:
    """A group of jobs between :meth:`Pipeline.prepare` and :meth:`Pipeline.finish`:
    per job, its decisions so far (None where the core's verdict decides), and the
    proofs that reached the core with their results."""

    jobs: Sequence[Job]
    now: int
    clients: list[ApiClient | None]
    decisions: list[list[Decision | None]]
    pending: list[tuple[int, int, pm.Proof]]  # (job, item, proof)
    owners: list[ApiClient] = field(default_factory=list)
    enrolled: dict[str, list[KeyRecord]] = field(default_factory=dict)
    results: list[pm.VerificationResult] = field(default_factory=list)


class _KeyCache:
    """Parsed VerifyingKeys: parsing (point decompression) is pure and costs more than
    the lookup, so it is done once per key, and a subject's key list is rebuilt only
    when the registry hands over a different record list (see ``active_keys``). Trust
    is not cached: the registry is asked on every request."""

    def __init__(self, limit: int = 100_000) -> None:
        self._keys: dict[bytes, pm.VerifyingKey] = {}
        self._lists: dict[str, tuple[list[KeyRecord], list[pm.VerifyingKey | pm.WebAuthnCredential]]] = {}
        self._limit = limit

    def get(self, raw: bytes) -> pm.VerifyingKey:
        vk = self._keys.get(raw)
        if vk is None:
            if len(self._keys) >= self._limit:
                self._keys.clear()
            vk = self._keys[raw] = pm.VerifyingKey.from_bytes(raw)
        return vk

    def trusted(
        self, enrolled: dict[str, list[KeyRecord]]
    ) -> dict[str, list[pm.VerifyingKey | pm.WebAuthnCredential]]:
        """Each subject's enrolled keys, parsed (shared lists: read them, do not change them)."""
        lists = self._lists
        if len(lists) >= self._limit:
            lists.clear()
        out: dict[str, list[pm.VerifyingKey | pm.WebAuthnCredential]] = {}
        for s, recs in enrolled.items():
            memo = lists.get(s)
            if memo is None or memo[0] is not recs:
                memo = lists[s] = (recs, [self.get(r.public_key) for r in recs])
            out[s] = memo[1]
        return out


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
        self.webauthn: WebAuthnHook | None = None  # set by routes_webauthn.mount_webauthn

    def run(
        self,
        bodies: Sequence[bytes],
        authenticate: Callable[[], ApiClient],
        *,
        single: bool = False,
        request_id: str | None = None,
        remote_addr: str | None = None,
    ) -> list[Decision]:
        """Verifies one request's proofs; raises :class:`RelayError` if the request is refused."""
        job = Job(bodies, authenticate, single, None, request_id, remote_addr)
        self.run_jobs([job])
        if job.error is not None:
            raise job.error
        return job.decisions

    def run_jobs(self, jobs: Sequence[Job]) -> None:
        """Runs a group of jobs; fills each job's ``decisions`` or ``error``.

        Store failures (SQLite, Redis, the audit file) raise and fail the group."""
        self.finish(self.prepare(jobs))
        self.publish(jobs)

    def prepare(self, jobs: Sequence[Job]) -> Group:
        """Steps 1-6: everything up to and including the signatures. Reads stores,
        writes none (rate-limit counters aside), so the relay runs it for the next
        group while :meth:`finish` records this one."""
        now = self.clock()
        # -- 1. structure and algorithm allowlist (the whole group in one core call) --
        policy = self.policy
        flat = pm.parse_proofs(
            [data for job in jobs for data in job.bodies],
            max_bytes=policy.max_proof_bytes,
            max_depth=policy.max_depth,
        )
        parsed: list[list[pm.Proof | pm.ProofMessengerError]] = []
        start = 0
        for job in jobs:
            items = flat[start : start + len(job.bodies)]
            start += len(job.bodies)
            parsed.append(items)
            if job.single and isinstance(items[0], pm.ProofMessengerError):
                exc = items[0]
                status = 413 if exc.code == errors.INPUT_TOO_LARGE else 400
                job.error = RelayError(exc.code, exc.detail, status=status)
                if self.metrics:
                    self.metrics.rejected_requests.labels(exc.code).inc()

        # -- 2. who is asking, and how often ----------------------------------------
        authenticated: dict[Hashable, ApiClient] = {}
        clients: list[ApiClient | None] = []
        for job in jobs:
            client = None
            if job.error is None:
                try:
                    client = authenticated.get(job.credential) if job.credential is not None else None
                    if client is None:
                        client = job.authenticate()
                        if job.credential is not None:
                            authenticated[job.credential] = client
                except RelayError as exc:
                    job.error = exc
            clients.append(client)
        self._charge_clients(jobs, clients)

        # Each proof's subject, read once (the getter builds a new string per call).
        subjects = [[p.subject if isinstance(p, pm.Proof) else None for p in items] for items in parsed]
        keys: list[tuple[int, int]] = []  # (job, item) of each proof charged to its subject
        charged: list[str] = []
        for j, row_subjects in enumerate(subjects):
            if clients[j] is not None:
                for i, subject in enumerate(row_subjects):
                    if subject is not None:
                        keys.append((j, i))
                        charged.append(subject)
        waits = self._subject_waits(keys, charged)
        decisions: list[list[Decision | None]] = []
        pending: list[tuple[int, int, pm.Proof]] = []  # (job, item, proof) for the core
        for j, job in enumerate(jobs):
            client = clients[j]
            row: list[Decision | None] = [None] * len(parsed[j])
            decisions.append(row)
            if client is None:
                continue
            for i, p in enumerate(parsed[j]):
                if isinstance(p, pm.ProofMessengerError):
                    row[i] = Decision(False, p.code, p.detail, client.audience, now, client.id)
                elif wait := waits.get((j, i), 0):
                    if job.single:
                        job.error = RelayError(
                            errors.RATE_LIMITED,
                            "subject rate limit exceeded",
                            headers={"Retry-After": str(wait)},
                        )
                        break
                    row[i] = _from_proof(
                        p, errors.RATE_LIMITED, "too many proofs for this subject", client, now
                    )
                else:
                    pending.append((j, i, p))
        pending = [t for t in pending if jobs[t[0]].error is None]

        # -- 3-6. key authenticity, audience, freshness, signature: the core decides --
        group = Group(jobs, now, clients, decisions, pending)
        if pending:
            owners: list[ApiClient] = [clients[j] for j, _, _ in pending]  # type: ignore[misc]
            enrolled = self.registry.active_keys(
                {subject for j, i, _ in pending if (subject := subjects[j][i]) is not None}, now_ms=now
            )
            trusted = self._keys.trusted(enrolled)
            wa = self.webauthn
            wa_subjects = (
                {subject for j, i, p in pending if p.algorithm == "WebAuthn" and (subject := subjects[j][i])}
                if wa is not None
                else set()
            )
            if wa is not None and wa_subjects:  # no extra query for Ed25519-only groups
                for s, creds in wa.credentials(wa_subjects).items():
                    trusted[s] = [*trusted.get(s, ()), *creds]  # (the key lists are shared)

            def resolver(subject: str) -> list[pm.VerifyingKey | pm.WebAuthnCredential]:
                return trusted.get(subject, [])

            by_audience: dict[str, list[int]] = {}
            for k, owner in enumerate(owners):
                by_audience.setdefault(owner.audience, []).append(k)
            results: list[pm.VerificationResult] = [None] * len(pending)  # type: ignore[list-item]
            group.owners, group.enrolled, group.results = owners, enrolled, results
            for audience, ks in by_audience.items():
                opts: dict[str, Any] = {
                    "audience": audience,
                    "resolver": resolver,
                    "now_ms": now,
                    "max_age_ms": policy.max_age_ms,
                    "max_skew_ms": policy.max_skew_ms,
                    "max_bytes": policy.max_proof_bytes,
                    "max_depth": policy.max_depth,
                } | (wa.verify_options() if wa is not None else {})
                if len(ks) == 1:
                    out = [pm.verify(pending[ks[0]][2], **opts)]
                else:
                    out = pm.verify_batch([pending[k][2] for k in ks], **opts)
                for k, res in zip(ks, out, strict=True):
                    results[k] = res

        return group

    def finish(self, group: Group) -> None:
        """Steps 7-8: consumes the nonces of the accepted proofs, then appends every
        decision to the audit log (durable once ``audit.sync`` returns; then
        :meth:`publish`). Groups must be finished in the order they were prepared."""
        jobs, now, decisions, pending = group.jobs, group.now, group.decisions, group.pending
        if pending:
            results, owners, enrolled = group.results, group.owners, group.enrolled
            policy, wa = self.policy, self.webauthn
            # -- 7. replay: only proofs the core accepted may consume a nonce -----------
            overrides = wa.commit(results) if wa is not None else {}  # WebAuthn counters (atomic)
            valid = [k for k, r in enumerate(results) if r.valid and k not in overrides]
            claims = Claim.from_results(results, owners, valid, now_ms=now, skew_ms=policy.max_skew_ms)
            consumed = self.replay.consume(claims, now_ms=now, require_challenge=policy.require_challenge)
            refused = overrides | {
                k: code for k, code in zip(valid, consumed, strict=True) if code is not None
            }
            made = Decision.from_results(
                results, owners, now_ms=now, refused=refused, details=_REPLAY_DETAIL, enrolled=enrolled
            )
            for (j, i, _), decision in zip(pending, made, strict=True):
                decisions[j][i] = decision

        # -- 8. receipts (one audit write for the group) ---------------------------------
        done: list[Decision] = []
        for j, job in enumerate(jobs):
            if job.error is None:
                job.decisions = decisions[j]  # type: ignore[assignment]
                done.extend(job.decisions)
        Decision.attach_receipts(done, self.audit.append_many(done))

    def publish(self, jobs: Sequence[Job]) -> None:
        """Step 9: the decision events and metrics of a finished group. The relay calls
        it once the group's audit entries are durable, so a logged decision is always
        in the audit log, and off the thread that consumes nonces."""
        done = [d for job in jobs if job.error is None for d in job.decisions]
        for job in jobs:
            if job.error is None:
                self.events.emit(job.decisions, request_id=job.request_id, remote_addr=job.remote_addr)
        self.events.flush()
        if self.metrics:
            self.metrics.count_decisions((d.valid, d.code) for d in done)

    def issue_challenge(self, client: ApiClient, subject: str, ttl_ms: int | None = None) -> Challenge:
        """A one-time nonce for ``subject``, bound to the client's audience."""
        self._check_client_rate(client, 1)
        return self.replay.issue_challenge(
            subject, client.audience, ttl_ms=ttl_ms or self.policy.challenge_ttl_ms, now_ms=self.clock()
        )

    # -- helpers ----------------------------------------------------------------

    def _charge_clients(self, jobs: Sequence[Job], clients: list[ApiClient | None]) -> None:
        """Per-client rate limit, one unit per proof. A client's jobs in one group
        are charged together when they fit (one limiter call); otherwise job by
        job, so that exactly the jobs over the limit get 429."""
        if self.limiter is None:
            return
        per_client: dict[str, list[int]] = {}
        for j, client in enumerate(clients):
            if client is not None:
                per_client.setdefault(client.id, []).append(j)
        for client_id, js in per_client.items():
            if (
                len(js) > 1
                and self.limiter.hit_client(client_id, sum(len(jobs[j].bodies) for j in js)).allowed
            ):
                continue
            for j in js:
                try:
                    self._check_client_rate(clients[j], len(jobs[j].bodies))  # type: ignore[arg-type]
                except RelayError as exc:
                    jobs[j].error, clients[j] = exc, None

    def _check_client_rate(self, client: ApiClient, cost: int) -> None:
        if self.limiter is None:
            return
        rd = self.limiter.hit_client(client.id, cost)
        if not rd.allowed:
            if self.metrics:
                self.metrics.rate_limited.labels("client").inc()
            raise RelayError(
                errors.RATE_LIMITED,
                "client rate limit exceeded",
                headers={"Retry-After": str(rd.retry_after_s)},
            )

    def _subject_waits(self, keys: list[tuple[int, int]], subjects: list[str]) -> dict[tuple[int, int], int]:
        """Per-subject rate limit, one unit per proof (``subjects[n]`` is the subject of
        proof ``keys[n]``, a (job, item) pair); returns the seconds to wait for each
        proof over the limit. A subject's proofs in one group are charged together when
        they fit (``hit_subjects_grouped``)."""
        if self.limiter is None or not subjects:
            return {}
        waits = {
            key: w for key, w in zip(keys, self.limiter.hit_subjects_grouped(subjects), strict=True) if w
        }
        if waits and self.metrics:
            self.metrics.rate_limited.labels("subject").inc(len(waits))
        return waits


def _from_proof(p: pm.Proof, code: str, detail: str, client: ApiClient, now: int) -> Decision:
    return Decision(
        False,
        code,
        detail,
        client.audience,
        now,
        client.id,
        subject=p.subject,
        key_id=p.key_id,
        nonce=p.nonce,
        timestamp_ms=p.timestamp_ms,
        context_digest=p.context_digest,
        signed_digest=p.signed_digest,
    )

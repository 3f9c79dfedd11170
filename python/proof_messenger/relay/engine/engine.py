"""The engine: one group lifecycle for every proof the relay verifies.

    prepare   authenticate each job's client; parse every proof (core, one call, GIL
              released); charge the client rate limit
    verify    the keys enrolled *now* for each subject (registry) and the WebAuthn
              credentials; the subject rate limit, charged only for proofs under a key
              their subject holds; then the core decides key, audience, freshness and
              signature for the whole group (``Verifier.verify_batch``, all cores)
    record    WebAuthn counters; nonces of the accepted proofs consumed atomically;
              the decisions (rust/relay); their audit entries appended, receipts attached
    commit    the audit log made durable (one fsync for the group)
    publish   the decision events and metrics (only now: a logged decision is always
              in the audit log)
    answer    each job's verdicts written (rust/relay), or its refusal kept

The engine decides nothing the core decides: it hands the core the trusted keys
and the policy, and keeps what is the service's: who may ask, how often,
whether a nonce was seen before. A :class:`Job` is one request; a group's jobs
share each step (one parse, one registry query, one ``verify_batch`` per
audience, one nonce transaction, one audit append and fsync) while each keeps
its own client, limits, refusal and verdicts. A refusal is a code, a detail
and maybe a wait (:class:`~proof_messenger.relay.errors.Refused`); HTTP status
codes are the HTTP layer's.

:meth:`Engine.run` runs the six steps in order (the embedded verifier);
:class:`~proof_messenger.relay.engine.runner.GroupRunner` runs the same steps
in the same order for concurrent HTTP requests, overlapping groups in threads.
Store failures raise out of a step and fail the group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

import proof_messenger as pm
from proof_messenger._core import relay as native
from proof_messenger._core.relay import Decision

from .. import errors
from ..audit import AuditSink
from ..errors import Refused
from ..events import DecisionEvents
from ..metrics import RelayMetrics
from ..stores.clients import ApiClient, ClientStore
from ..stores.credentials import WebAuthnStore
from ..stores.limits import RateLimiter
from ..stores.registry import KeyRecord, KeyRegistry
from ..stores.replay import ReplayStore
from .counters import alert, counter_failures, store_counters, suspect_claims
from .job import Job
from .trust import ParsedKeys, TrustedKey, webauthn_credentials


@dataclass(frozen=True, slots=True)
class Policy:
    """What the relay requires of every proof, besides trust (the registry's)."""

    max_age_ms: int = pm.DEFAULT_MAX_AGE_MS
    max_skew_ms: int = pm.DEFAULT_MAX_SKEW_MS
    max_proof_bytes: int = pm.DEFAULT_MAX_BYTES
    max_depth: int = pm.DEFAULT_MAX_DEPTH
    require_challenge: bool = False
    full_receipts: bool = False  # verdicts carry the entry too (audit_receipt = "full")
    webauthn: pm.RelyingParty | None = None  # None: WebAuthn proofs are unsupported_algorithm


@dataclass(eq=False, slots=True)
class Group:
    """A group of jobs between the steps: per job, its decisions so far (None where the
    core's verdict decides), and the proofs that reached the core with their results."""

    jobs: Sequence[Job]
    now: int
    decisions: list[list[Decision | None]] = field(default_factory=list)
    pending: list[tuple[int, int, pm.Proof]] = field(default_factory=list)  # (job, item, proof)
    owners: list[ApiClient] = field(default_factory=list)  # the distinct clients of `pending`
    owner_of: list[int] = field(default_factory=list)  # per pending proof: its client in `owners`
    subjects: set[str] = field(default_factory=set)  # the subjects of the pending proofs
    enrolled: dict[str, list[KeyRecord]] = field(default_factory=dict)
    results: list[pm.VerificationResult] = field(default_factory=list)
    done: list[Decision] = field(default_factory=list)  # the decisions of the unrefused jobs, in order


class Engine:
    def __init__(
        self,
        *,
        registry: KeyRegistry,
        clients: ClientStore,
        replay: ReplayStore,
        audit: AuditSink,
        events: DecisionEvents,
        policy: Policy = Policy(),
        limiter: RateLimiter | None = None,
        metrics: RelayMetrics | None = None,
        credentials: WebAuthnStore | None = None,
        clock: Callable[[], int] = pm.now_ms,
    ) -> None:
        self.registry = registry
        self.clients = clients
        self.replay = replay
        self.audit = audit
        self.events = events
        self.policy = policy
        self.limiter = limiter
        self.metrics = metrics
        self.credentials = credentials if policy.webauthn is not None else None
        self.clock = clock
        self._keys = ParsedKeys()
        self._verifiers: dict[str, pm.Verifier] = {}
        self._limits = pm.Limits(max_bytes=policy.max_proof_bytes, max_depth=policy.max_depth)

    # -- the lifecycle ---------------------------------------------------------------

    def run(self, jobs: Sequence[Job]) -> None:
        """Every step for one group, in order, in this thread."""
        group = self.prepare(jobs)
        self.verify(group)
        self.record(group)
        self.commit(group)
        self.publish(group)
        self.answer(group)

    def prepare(self, jobs: Sequence[Job]) -> Group:
        """Authenticate, parse, the client rate limit. Reads stores and writes none (rate-limit
        counters aside), so the relay prepares the next group while the last records."""
        group = Group(jobs, self.clock())
        policy = self.policy
        # Credentials first: the bodies of a request that is not authenticated are not parsed.
        self._authenticate(jobs)
        flat = pm.parse_proofs(
            [data for job in jobs if job.refusal is None for data in job.bodies],
            max_bytes=policy.max_proof_bytes,
            max_depth=policy.max_depth,
        )
        parsed: list[list[pm.Proof | pm.ProofMessengerError]] = []
        start = 0
        for job in jobs:
            if job.refusal is not None:
                parsed.append([])
                continue
            items = flat[start : start + len(job.bodies)]
            start += len(job.bodies)
            parsed.append(items)
            if job.single and isinstance(items[0], pm.ProofMessengerError):
                job.refusal = Refused(items[0].code, items[0].detail)
                if self.metrics:
                    self.metrics.rejected_requests.labels(items[0].code).inc()
        self._charge_clients(jobs)

        now = group.now
        for j, job in enumerate(jobs):
            row: list[Decision | None] = [None] * len(parsed[j])
            group.decisions.append(row)
            client = job.client
            if client is None or job.refusal is not None:
                continue
            for i, p in enumerate(parsed[j]):
                if isinstance(p, pm.ProofMessengerError):
                    row[i] = native.refuse(client, p.code, p.detail, now_ms=now)
                else:
                    group.pending.append((j, i, p))
        group.subjects = {s for _, _, p in group.pending if (s := p.subject) is not None}
        return group

    def verify(self, group: Group) -> None:
        """Trusted keys from the registry, then the core's verdict for every pending proof."""
        if not group.pending:
            return
        jobs, now = group.jobs, group.now
        group.enrolled = self.registry.active_keys(group.subjects, now_ms=now)
        trusted = self._keys.trusted(group.enrolled)
        if self.credentials is not None:
            webauthn = {s for _, _, p in group.pending if p.algorithm == "WebAuthn" and (s := p.subject)}
            if webauthn:  # no extra query for Ed25519-only groups
                for s, creds in webauthn_credentials(self.credentials, webauthn).items():
                    trusted[s] = [*trusted.get(s, ()), *creds]  # (the key lists are shared)
        self._charge_subjects(group, trusted)
        if not group.pending:
            return
        # Each pending proof's client, by its index in group.owners (pending is in job order:
        # one lookup per job, not per proof).
        index: dict[str, int] = {}
        for j, items in groupby(group.pending, key=itemgetter(0)):
            client = jobs[j].client
            assert client is not None  # pending proofs belong to authenticated jobs
            k = index.get(client.id)
            if k is None:
                k = index[client.id] = len(group.owners)
                group.owners.append(client)
            group.owner_of += [k] * sum(1 for _ in items)

        def resolver(subject: str) -> list[TrustedKey]:
            return trusted.get(subject, [])

        by_audience: dict[str, list[int]] = {}
        for k, o in enumerate(group.owner_of):
            by_audience.setdefault(group.owners[o].audience, []).append(k)
        results: list[pm.VerificationResult | None] = [None] * len(group.pending)
        for audience, ks in by_audience.items():
            verifier = self._verifier(audience)
            if len(ks) == 1:
                out = [verifier.verify(group.pending[ks[0]][2], resolver=resolver, now_ms=now)]
            else:
                # Each proof's client and request (its job): clients never share a batch
                # equation, so one client's bad signatures cost the others nothing, and a
                # failure is isolated per request before per proof (core batch.rs).
                out = verifier.verify_batch(
                    [group.pending[k][2] for k in ks],
                    resolver=resolver,
                    now_ms=now,
                    callers=[group.owner_of[k] for k in ks],
                    requests=[group.pending[k][0] for k in ks],
                )
            for k, res in zip(ks, out, strict=True):
                results[k] = res
        group.results = results  # type: ignore[assignment]  # every slot is filled above

    def record(self, group: Group) -> None:
        """Counters, nonces, decisions, audit entries. Groups are recorded in the order
        they were prepared (one recorder), so nonces are consumed in arrival order."""
        if group.pending:
            results, policy, now = group.results, self.policy, group.now
            refused = store_counters(self.credentials, results) if self.credentials is not None else {}
            accepted = [k for k, r in enumerate(results) if r.valid and k not in refused]
            claims = native.claims(
                results, group.owners, group.owner_of, accepted, now_ms=now, skew_ms=policy.max_skew_ms
            )
            # Proofs refused for their counter offer their nonce too: used before means a
            # replayed assertion, not a cloned authenticator (counters.py).
            suspects = counter_failures(results, refused) if self.credentials is not None else []
            if suspects:
                claims = [
                    *claims,
                    *suspect_claims(
                        results,
                        suspects,
                        [group.owners[group.owner_of[k]].audience for k in suspects],
                        now_ms=now,
                        skew_ms=policy.max_skew_ms,
                    ),
                ]
            consumed = self.replay.consume(claims, now_ms=now, require_challenge=policy.require_challenge)
            refused |= {
                k: code
                for k, code in zip(accepted, consumed[: len(accepted)], strict=True)
                if code is not None
            }
            for k, code in zip(suspects, consumed[len(accepted) :], strict=True):
                alert(results[k], replayed=code is not None)
            made = native.decide(
                results, group.owners, group.owner_of, now_ms=now, refused=refused, enrolled=group.enrolled
            )
            for (j, i, _), decision in zip(group.pending, made, strict=True):
                group.decisions[j][i] = decision
        for j, job in enumerate(group.jobs):
            if job.refusal is None:
                job.decisions = group.decisions[j]  # type: ignore[assignment]  # every slot is filled
                group.done.extend(job.decisions)
        self.audit.append(group.done)

    def commit(self, group: Group) -> None:
        """Makes the group's audit entries durable (the receipts are then true)."""
        self.audit.sync()
        self.audit.complete(group.done)

    def publish(self, group: Group) -> None:
        """Decision events and metrics, once the entries are durable."""
        for job in group.jobs:
            if job.refusal is None:
                self.events.emit(job.decisions, request_id=job.request_id, remote_addr=job.remote_addr)
        self.events.flush()
        if self.metrics:
            self.metrics.count_decisions((d.valid, d.code) for d in group.done)

    def answer(self, group: Group) -> None:
        """Each unrefused job's answer: one verdict, or the verify-batch body."""
        full = self.policy.full_receipts
        for job in group.jobs:
            if job.refusal is not None:
                continue
            if job.single:
                job.body = native.verdict(job.decisions[0], full_receipt=full)
            else:
                job.body = native.batch_body(job.decisions, full_receipts=full)

    # -- helpers ----------------------------------------------------------------------

    def _verifier(self, audience: str) -> pm.Verifier:
        """One configured core verifier per client audience (clients are few: admin-made)."""
        verifier = self._verifiers.get(audience)
        if verifier is None:
            if len(self._verifiers) >= 1024:
                self._verifiers.clear()
            p = self.policy
            verifier = self._verifiers[audience] = pm.Verifier(
                audience,
                max_age_ms=p.max_age_ms,
                max_skew_ms=p.max_skew_ms,
                limits=self._limits,
                webauthn=p.webauthn,
            )
        return verifier

    def _authenticate(self, jobs: Sequence[Job]) -> None:
        """Each job's client from its credential (one lookup per distinct credential)."""
        seen: dict[str, ApiClient | None] = {}
        for job in jobs:
            if job.refusal is not None or job.client is not None or job.credential is None:
                continue
            credential = job.credential
            if credential in seen:
                client = seen[credential]
            else:
                client = seen[credential] = self.clients.authenticate(credential)
            if client is None:
                job.refusal = Refused(errors.UNAUTHORIZED, "unknown or revoked API key")
            job.client = client

    def _charge_clients(self, jobs: Sequence[Job]) -> None:
        """Per-client rate limit, one unit per proof. A client's jobs in one group are
        charged together when they fit (one limiter call); otherwise job by job, so that
        exactly the jobs over the limit are refused."""
        if self.limiter is None:
            return
        per_client: dict[str, list[Job]] = {}
        for job in jobs:
            if job.client is not None and job.refusal is None:
                per_client.setdefault(job.client.id, []).append(job)
        for client_id, js in per_client.items():
            if len(js) > 1 and self.limiter.hit_client(client_id, sum(len(j.bodies) for j in js)).allowed:
                continue
            for job in js:
                if len(job.bodies) > self.limiter.client_capacity:  # not a wait: a 429 would loop
                    job.refusal = Refused(
                        errors.BATCH_TOO_LARGE,
                        f"{len(job.bodies)} proofs can never fit the client rate limit"
                        f" ({self.limiter.client_capacity} at most per request)",
                    )
                    continue
                rd = self.limiter.hit_client(client_id, len(job.bodies))
                if not rd.allowed:
                    if self.metrics:
                        self.metrics.rate_limited.labels("client").inc()
                    job.refusal = Refused(
                        errors.RATE_LIMITED, "client rate limit exceeded", retry_after_s=rd.retry_after_s
                    )

    def _charge_subjects(self, group: Group, trusted: dict[str, list[TrustedKey]]) -> None:
        """Per-subject rate limit, one unit per proof whose key is trusted for its subject
        *now* (before any curve arithmetic), on the budget of the pair (API client,
        subject). A proof under a key the subject does not hold spends nothing (the core
        refuses it as untrusted_key), and one client cannot spend another's budget for a
        subject: junk proofs naming alice lock nobody out (tests/relay/attacks/
        test_subject_budget.py). Over the limit: a single proof's request is refused
        (429), a batch line gets a rate_limited verdict."""
        if self.limiter is None:
            return
        pending, jobs = group.pending, group.jobs
        ids: dict[str, frozenset[str]] = {}
        at: list[int] = []  # positions in pending of the proofs charged
        buckets: list[str] = []
        for n, (j, _, p) in enumerate(pending):
            subject = p.subject
            if subject is None:
                continue
            held = ids.get(subject)
            if held is None:
                held = ids[subject] = frozenset(k.key_id for k in trusted.get(subject, ()))
            if p.key_id in held:
                client = jobs[j].client
                assert client is not None  # pending proofs belong to authenticated jobs
                at.append(n)
                buckets.append(f"{client.id}\x1f{subject}")  # no subject or client id holds U+001F
        if not buckets:
            return
        over = [(n, w) for n, w in zip(at, self.limiter.hit_subjects_grouped(buckets), strict=True) if w]
        if not over:
            return
        if self.metrics:
            self.metrics.rate_limited.labels("subject").inc(len(over))
        now = group.now
        for n, wait in over:
            j, i, p = pending[n]
            job, client = jobs[j], jobs[j].client
            assert client is not None
            if job.single:
                job.refusal = Refused(errors.RATE_LIMITED, "subject rate limit exceeded", retry_after_s=wait)
            else:
                group.decisions[j][i] = native.refuse(client, errors.RATE_LIMITED, proof=p, now_ms=now)
        refused = {n for n, _ in over}
        group.pending = [t for n, t in enumerate(pending) if n not in refused and jobs[t[0]].refusal is None]

"""The service container: everything one relay instance owns, built from its config.

:func:`build_relay` opens the stores named by a :class:`~.config.Config`
(creating the data directory), the audit log and the engine, and returns a
:class:`Relay` that the HTTP app (``relay.http``) and the embedded verifier
(``proof_messenger.integrations``) both serve from. Nothing here knows HTTP.

>>> import tempfile
>>> from proof_messenger.relay import load_config
>>> config = load_config(env={}, flags={"data_dir": tempfile.mkdtemp(), "decision_log": ""})
>>> relay = build_relay(config, announce=None)
>>> sorted(relay.check_stores().items())
[('limits', 'ok'), ('registry', 'ok'), ('replay', 'ok')]
>>> relay.close()
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import proof_messenger as pm

from . import errors
from .audit import AuditSink, MerkleAuditSink, open_audit_sink, tamper_warnings
from .config import Config, admin_token, ensure_data_dir
from .engine import Engine, Policy
from .errors import Refused
from .events import DecisionEvents
from .metrics import RelayMetrics
from .stores.clients import ApiClient, ClientStore, SqlClientStore
from .stores.credentials import WebAuthnStore
from .stores.db import Database, open_database
from .stores.limits import RateLimiter
from .stores.registry import KeyRegistry, SqlKeyRegistry
from .stores.replay import Challenge, RedisReplayStore, ReplayStore, SqlReplayStore

log = logging.getLogger("proof_messenger.relay")


@dataclass
class Relay:
    """Everything one relay instance owns; closed together."""

    config: Config
    db: Database
    registry: KeyRegistry
    clients: ClientStore
    credentials: WebAuthnStore
    replay: ReplayStore
    limiter: RateLimiter
    audit: AuditSink
    events: DecisionEvents
    metrics: RelayMetrics
    engine: Engine
    admin_token: str = field(repr=False)
    relying_party: pm.RelyingParty | None = None
    clock: Callable[[], int] = pm.now_ms

    def issue_challenge(self, client: ApiClient, subject: str, ttl_ms: int | None = None) -> Challenge:
        """A one-time nonce for ``subject``, bound to the client's audience (charged to
        the client's rate limit)."""
        rd = self.limiter.hit_client(client.id, 1)
        if not rd.allowed:
            self.metrics.rate_limited.labels("client").inc()
            raise Refused(errors.RATE_LIMITED, "client rate limit exceeded", retry_after_s=rd.retry_after_s)
        return self.replay.issue_challenge(
            subject, client.audience, ttl_ms=ttl_ms or self.config.challenge_ttl_ms, now_ms=self.clock()
        )

    def readiness_warnings(self) -> list[str]:
        """What this relay's audit configuration leaves unprotected (``/readyz``)."""
        if not isinstance(self.audit, MerkleAuditSink):
            return []
        return tamper_warnings(self.config)

    def check_stores(self) -> dict[str, str]:
        """Readiness: each store answers (``ok``) or the exception's class name."""
        checks: dict[str, str] = {}
        for name, probe in (
            ("registry", self.registry.ping),
            ("replay", self.replay.ping),
            ("limits", self.limiter.ping),
        ):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:  # any failure means "not ready"
                checks[name] = f"error: {type(exc).__name__}"
        return checks

    def purge(self) -> None:
        """Housekeeping (every minute): forget full token buckets and expired nonces."""
        self.limiter.purge()
        self.replay.purge(now_ms=self.clock())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.audit.close()
        with contextlib.suppress(Exception):
            self.replay.close()
        with contextlib.suppress(Exception):
            self.db.close()


def relying_party(cfg: Config) -> pm.RelyingParty | None:
    """The WebAuthn policy of the config: ``webauthn_rp_id`` (the demo: ``localhost``) and
    its origins (default ``https://<rp id>``; the demo: ``http://localhost:<port>``)."""
    rp_id = cfg.webauthn_rp_id or ("localhost" if cfg.demo else None)
    if not rp_id:
        return None
    origins = tuple(o.strip() for o in cfg.webauthn_origins.split(",") if o.strip())
    if not origins:
        origins = (
            (f"http://localhost:{cfg.port}",) if cfg.demo and rp_id == "localhost" else (f"https://{rp_id}",)
        )
    return pm.RelyingParty(rp_id, origins)


def build_relay(
    config: Config,
    *,
    clock: Callable[[], int] | None = None,
    announce: Any = sys.stderr,
    audit: AuditSink | None = None,
) -> Relay:
    """Opens the stores named by ``config`` (creating the data directory).

    ``audit`` replaces the default Merkle audit log (``<data_dir>/auditlog``, one log per
    process) with another :class:`~proof_messenger.relay.audit.AuditSink`."""
    clock = clock or pm.now_ms
    data_dir = ensure_data_dir(config)
    token = admin_token(config, announce=announce)
    db = open_database(data_dir, synchronous=config.sqlite_synchronous)
    registry = SqlKeyRegistry(db)
    clients = SqlClientStore(db)
    credentials = WebAuthnStore(db)
    retention = config.max_age_ms + config.max_skew_ms  # a challenge outlives every proof made for it
    replay: ReplayStore
    if config.redis_url:
        redis_replay = RedisReplayStore(
            config.redis_url,
            challenge_retention_ms=retention,
            epoch_file=data_dir / "redis.epoch",
            max_skew_ms=config.max_skew_ms,
        )
        for warning in redis_replay.persistence_warnings():
            log.warning("%s", warning)
        replay = redis_replay
    else:
        replay = SqlReplayStore(db, challenge_retention_ms=retention)
    limiter = RateLimiter(
        client_limit=config.rate_limit_client,
        subject_limit=config.rate_limit_subject,
        strategy=config.rate_limit_strategy,
        redis_url=config.redis_url,
        share_of=config.workers,
    )
    if limiter.client_capacity < config.max_batch_count:
        log.warning(
            "rate_limit_client %r admits at most %d proofs per request (per worker), fewer than"
            " max_batch_count %d: larger batches are refused (batch_too_large)",
            config.rate_limit_client,
            limiter.client_capacity,
            config.max_batch_count,
        )
    if audit is None:
        audit = open_audit_sink(config, data_dir)
        for warning in tamper_warnings(config):
            log.warning("audit log: %s", warning)
    events = DecisionEvents(log_context=config.log_context)
    metrics = RelayMetrics()
    rp = relying_party(config)
    policy = Policy(
        max_age_ms=config.max_age_ms,
        max_skew_ms=config.max_skew_ms,
        max_proof_bytes=config.max_body_bytes,
        max_depth=config.max_depth,
        require_challenge=config.require_challenge,
        full_receipts=config.audit_receipt == "full",
        webauthn=rp,
    )
    engine = Engine(
        registry=registry,
        clients=clients,
        replay=replay,
        audit=audit,
        events=events,
        policy=policy,
        limiter=limiter,
        metrics=metrics,
        credentials=credentials,
        clock=clock,
    )
    return Relay(
        config,
        db,
        registry,
        clients,
        credentials,
        replay,
        limiter,
        audit,
        events,
        metrics,
        engine,
        token,
        rp,
        clock,
    )

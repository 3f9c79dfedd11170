"""The app factory: wires config, stores and the pipeline into a FastAPI app.

>>> from proof_messenger.relay import create_app, load_config
>>> app = create_app(load_config(flags={"data_dir": "/tmp/pm-doctest"}))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import secrets
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

import proof_messenger as pm

from . import errors, schemas
from .api import build_router, json_response
from .audit import AuditSink, open_audit_sink
from .auditapi import mount_audit
from .clients import ClientStore, SqlClientStore
from .config import Config, admin_token, ensure_data_dir
from .db import Database, open_database
from .errors import RelayError
from .events import DecisionEvents
from .hotpath import PATHS as HOT_PATHS
from .hotpath import Coalescer, VerifyEndpoints, openapi_paths
from .keys import KeyRegistry, SqlKeyRegistry
from .limits import RateLimiter
from .metrics import RelayMetrics
from .pipeline import Pipeline, Policy
from .replay import RedisReplayStore, ReplayStore, SqlReplayStore

log = logging.getLogger("proof_messenger.relay")
_PURGE_INTERVAL_S = 60.0
_CHECKPOINT_INTERVAL_S = 1.0
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _store_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [sqlite3.Error, OSError]
    try:
        import redis.exceptions

        types.append(redis.exceptions.RedisError)
    except ImportError:  # pragma: no cover
        pass
    from limits.errors import StorageError

    from proof_messenger.auditlog import LogCorrupted, LogFailed

    types += [StorageError, LogFailed, LogCorrupted]
    return tuple(types)


_STORE_ERRORS = _store_error_types()


@dataclass
class Relay:
    """Everything one relay instance owns; closed together."""

    config: Config
    db: Database
    registry: KeyRegistry
    clients: ClientStore
    replay: ReplayStore
    limiter: RateLimiter
    audit: AuditSink
    events: DecisionEvents
    metrics: RelayMetrics
    pipeline: Pipeline
    admin_token: str = field(repr=False)
    clock: Callable[[], int] = pm.now_ms

    @contextlib.contextmanager
    def store_errors(self) -> Iterator[None]:
        """A failing store makes the request 503 (fail closed), never a 500."""
        try:
            yield
        except _STORE_ERRORS as exc:
            log.error("store failure: %s: %s", type(exc).__name__, exc)
            raise RelayError(
                errors.SERVICE_UNAVAILABLE, "a backing store is unavailable; retry later"
            ) from None

    def check_stores(self) -> dict[str, str]:
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

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.audit.close()
        with contextlib.suppress(Exception):
            self.replay.close()
        with contextlib.suppress(Exception):
            self.db.close()


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
    replay: ReplayStore = RedisReplayStore(config.redis_url) if config.redis_url else SqlReplayStore(db)
    limiter = RateLimiter(
        client_limit=config.rate_limit_client,
        subject_limit=config.rate_limit_subject,
        strategy=config.rate_limit_strategy,
        redis_url=config.redis_url,
        share_of=config.workers,
    )
    audit = audit or open_audit_sink(config, data_dir)
    events = DecisionEvents(log_context=config.log_context)
    metrics = RelayMetrics()
    policy = Policy(
        max_age_ms=config.max_age_ms,
        max_skew_ms=config.max_skew_ms,
        max_proof_bytes=config.max_body_bytes,
        max_depth=config.max_depth,
        require_challenge=config.require_challenge,
        challenge_ttl_ms=config.challenge_ttl_ms,
    )
    pipeline = Pipeline(
        registry=registry,
        replay=replay,
        audit=audit,
        events=events,
        policy=policy,
        limiter=limiter,
        metrics=metrics,
        clock=clock,
    )
    return Relay(
        config, db, registry, clients, replay, limiter, audit, events, metrics, pipeline, token, clock
    )


class RelayApp(FastAPI):
    """The FastAPI app with one plain-ASGI layer in front of the framework stack:
    request id, security headers and HTTP metrics for every request, and the two
    verification paths served directly by :class:`VerifyEndpoints` (they never
    enter the framework's middleware and routing)."""

    hot: VerifyEndpoints
    metrics: RelayMetrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        start = time.perf_counter()
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                rid = text if _REQUEST_ID.match(text) else None
                break
        rid = rid or _request_ids()
        scope["pm.request_id"] = rid
        status = 500
        extra = [(b"x-request-id", rid.encode("ascii")), (b"x-content-type-options", b"nosniff")]
        m = self.metrics
        if scope["path"] in HOT_PATHS:  # the verify endpoints add the headers themselves
            m.in_flight.inc()
            try:
                status = await self.hot.serve(scope, receive, send, [*extra, _NO_STORE])
            finally:
                m.in_flight.dec()
                m.observe_request(scope["method"], scope["path"], status, time.perf_counter() - start)
            return

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers += extra
                if not any(k == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        m.in_flight.inc()
        try:
            await super().__call__(scope, receive, send_wrapper)
        finally:
            m.in_flight.dec()
            path = getattr(scope.get("route"), "path", None) or "unmatched"
            m.observe_request(scope["method"], path, status, time.perf_counter() - start)


_NO_STORE = (b"cache-control", b"no-store")


def _request_id_source() -> Callable[[], str]:
    """Unique per process without a syscall per request: random prefix + counter."""
    prefix = secrets.token_hex(4)
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter):x}"


_request_ids = _request_id_source()


def create_app(
    config: Config | None = None,
    *,
    clock: Callable[[], int] | None = None,
    relay: Relay | None = None,
) -> FastAPI:
    """A relay app. Pass ``relay`` to own the stores yourself (the app then never
    closes them); otherwise they are opened from ``config`` and closed on shutdown."""
    owns_relay = relay is None
    if relay is None:
        from .config import load_config

        relay = build_relay(config or load_config(), clock=clock)
    cfg = relay.config

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def purge() -> None:
            while True:
                await asyncio.sleep(_PURGE_INTERVAL_S)
                relay.limiter.purge()  # in-process token buckets that are full again
                try:
                    await asyncio.to_thread(relay.replay.purge, now_ms=relay.clock())
                except Exception as exc:  # keep purging later; stores report their own failures
                    log.warning("nonce purge failed: %s", exc)

        async def checkpoint() -> None:
            while True:
                await asyncio.sleep(_CHECKPOINT_INTERVAL_S)
                try:
                    await asyncio.to_thread(relay.db.checkpoint)
                except Exception as exc:  # the next one retries; SQLite's backstop still runs
                    log.warning("database checkpoint failed: %s", exc)

        tasks = [asyncio.create_task(purge()), asyncio.create_task(checkpoint())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if isinstance(app, RelayApp):
                app.hot.coalescer.close()
            if owns_relay:
                relay.close()
            else:
                relay.audit.sync()

    app = RelayApp(
        title="proof-messenger relay",
        version=pm.__version__,
        description="Self-hosted verification of proof-messenger proofs. Manual: docs/RELAY.md.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.relay = relay
    app.include_router(build_router(relay))
    mount_audit(app, relay)
    from .routes_webauthn import mount_webauthn  # WebAuthn registration + verification hook

    mount_webauthn(app, relay)
    if cfg.demo:
        from .demo import build_demo

        build_demo(app, relay)

    @app.exception_handler(RelayError)
    async def relay_error(request: Request, exc: RelayError) -> Response:
        return json_response(exc.body(), exc.status, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())) or "request"
        return json_response(
            RelayError(errors.INVALID_REQUEST, f"{where}: {first.get('msg', 'invalid')}").body(), 400
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED}.get(
            exc.status_code, errors.INVALID_REQUEST
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route on the path; list every method the path has.
            methods = {
                m
                for route in app.routes
                if (regex := getattr(route, "path_regex", None)) is not None and regex.match(request.url.path)
                for m in (getattr(route, "methods", None) or ())
                if m != "HEAD"
            }
            headers["Allow"] = ", ".join(sorted(methods))
        return json_response(RelayError(code, str(exc.detail)).body(), exc.status_code, headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return json_response(RelayError(errors.INTERNAL_ERROR, "internal error").body(), 500)

    app.openapi = lambda: _openapi(app, cfg.max_batch_count)  # type: ignore[method-assign]
    app.hot = VerifyEndpoints(relay, Coalescer(relay.pipeline, max_group_proofs=max(cfg.max_batch_count, 1)))
    app.metrics = relay.metrics
    return app


def _openapi(app: FastAPI, max_batch_count: int) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema["paths"] = {**openapi_paths(max_batch_count), **schema.get("paths", {})}
    _, defs = models_json_schema(
        [
            (m, "validation")
            for m in (
                schemas.Proof,
                schemas.ChallengeRequest,
                schemas.KeyEnrollRequest,
                schemas.ClientCreateRequest,
                schemas.Verdict,
                schemas.BatchVerdicts,
                schemas.ErrorBody,
            )
        ],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(defs.get("$defs", {}))
    components["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "An API client's key (pmk_...)."},
        "adminToken": {"type": "http", "scheme": "bearer", "description": "The relay's admin token."},
    }
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            responses = op.get("responses", {})
            # FastAPI's 422 is never sent: validation failures are 400 with the error envelope.
            if responses.pop("422", None) is not None and "400" not in responses:
                responses["400"] = {
                    "description": "Malformed request",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                }
    components.get("schemas", {}).pop("HTTPValidationError", None)
    components.get("schemas", {}).pop("ValidationError", None)
    app.openapi_schema = schema
    return schema

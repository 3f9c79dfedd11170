"""The HTTP app factory: a relay's routes, error handlers, OpenAPI document and
background housekeeping, behind :class:`~.middleware.RelayMiddleware`.

>>> import tempfile
>>> from proof_messenger.relay import load_config
>>> app = create_app(load_config(env={}, flags={"data_dir": tempfile.mkdtemp(), "decision_log": ""}))
>>> sorted(app.openapi()["paths"])[:3]
['/audit/checkpoint', '/audit/entries/{index}', '/audit/proof/consistency']
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

import proof_messenger as pm

from ..config import Config
from ..engine import GroupRunner
from ..service import Relay, build_relay
from .admission import Admission, AdmissionLimits
from .errors import install_handlers
from .middleware import RelayMiddleware
from .openapi import document, verify_operations
from .routes import audit, challenges, clients, demo, keys, ops, webauthn
from .verify import VERIFY, VERIFY_BATCH, VerifyEndpoints

log = logging.getLogger("proof_messenger.relay")
PURGE_INTERVAL_S = 60.0
CHECKPOINT_INTERVAL_S = 1.0


class RelayApp:
    """A relay as an ASGI app: the middleware in front of the framework app.
    ``relay`` is what it serves; ``openapi()`` its OpenAPI document."""

    def __init__(self, relay: Relay, framework: FastAPI, middleware: RelayMiddleware) -> None:
        self.relay = relay
        self.framework = framework
        self._asgi = middleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        return self.framework.openapi()


def create_app(
    config: Config | None = None,
    *,
    clock: Callable[[], int] | None = None,
    relay: Relay | None = None,
) -> RelayApp:
    """A relay app. Pass ``relay`` to own the stores yourself (the app then never
    closes them); otherwise they are opened from ``config`` and closed on shutdown."""
    owns_relay = relay is None
    if relay is None:
        from ..config import load_config

        relay = build_relay(config or load_config(), clock=clock)
    cfg = relay.config
    runner = GroupRunner(relay.engine, max_group_proofs=max(cfg.max_batch_count, 1))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def every(seconds: float, work: Callable[[], None], what: str) -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await asyncio.to_thread(work)
                except Exception as exc:  # try again next time; stores report their own failures
                    log.warning("%s failed: %s", what, exc)

        tasks = [
            asyncio.create_task(every(PURGE_INTERVAL_S, relay.purge, "purge")),
            # SQLite's WAL copied into the database off the request path (its backstop still runs).
            asyncio.create_task(every(CHECKPOINT_INTERVAL_S, relay.db.checkpoint, "database checkpoint")),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            runner.close()
            if owns_relay:
                relay.close()
            else:
                relay.audit.sync()

    framework = FastAPI(
        title="proof-messenger relay",
        version=pm.__version__,
        description="Self-hosted verification of proof-messenger proofs. Manual: docs/RELAY.md.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    for routes in (challenges, keys, clients, webauthn, audit, ops):
        framework.include_router(routes.router(relay))
    app: RelayApp | None = None
    if cfg.demo:
        framework.include_router(demo.router(relay, lambda: app))  # type: ignore[arg-type, return-value]
    install_handlers(framework)
    operations = verify_operations(VERIFY, VERIFY_BATCH, cfg.max_batch_count)

    def openapi() -> dict[str, Any]:
        if framework.openapi_schema is None:
            framework.openapi_schema = document(framework, operations)
        return framework.openapi_schema

    framework.openapi = openapi  # type: ignore[method-assign]
    admission = Admission(
        relay.clients,
        AdmissionLimits(
            max_inflight_bytes=cfg.max_inflight_bytes,
            max_client_inflight_bytes=cfg.max_client_inflight_bytes,
            max_inflight_jobs=cfg.max_inflight_jobs,
            max_client_inflight_jobs=cfg.max_client_inflight_jobs,
            auth_failure_limit=cfg.auth_failure_limit,
        ),
    )
    verify = VerifyEndpoints(relay, runner, admission)
    middleware = RelayMiddleware(framework, verify=verify, metrics=relay.metrics)
    app = RelayApp(relay, framework, middleware)
    return app

"""Operations: liveness, readiness (every store answers) and Prometheus metrics. No
credentials: keep them on the internal network (docs/RELAY.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio.to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import Response

from .. import schemas
from ..encoding import json_response
from ..guards import reject_unknown_query

if TYPE_CHECKING:
    from ...service import Relay


def router(relay: Relay) -> APIRouter:
    api = APIRouter(tags=["ops"], dependencies=[Depends(reject_unknown_query)])

    @api.get(
        "/healthz",
        summary="Liveness",
        response_class=Response,
        responses={200: {"model": schemas.Health, "description": "Alive"}},
    )
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @api.get(
        "/readyz",
        summary="Readiness: every store answers",
        response_class=Response,
        responses={
            200: {"model": schemas.Health, "description": "Ready"},
            503: {"model": schemas.Health, "description": "A store is unavailable"},
        },
    )
    async def readyz() -> Response:
        checks = await anyio.to_thread.run_sync(relay.check_stores)
        ok = all(v == "ok" for v in checks.values())
        answer = {
            "status": "ok" if ok else "unavailable",
            "checks": checks,
            "warnings": relay.readiness_warnings(),
        }
        return json_response(answer, 200 if ok else 503)

    @api.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}
        },
    )
    async def metrics() -> Response:
        data, content_type = relay.metrics.render()
        return Response(data, media_type=content_type)

    return api

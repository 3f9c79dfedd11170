"""The API clients' admin API: create (the key is shown once), list and revoke calling services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ... import errors
from ...errors import Refused
from .. import schemas
from ..bodies import parse_model, read_body
from ..encoding import json_response
from ..guards import admin_guard
from ..openapi import ADMIN_SECURITY, body_doc, responses

if TYPE_CHECKING:
    from ...service import Relay


def router(relay: Relay) -> APIRouter:
    cfg = relay.config
    api = APIRouter(tags=["admin"], dependencies=[Depends(admin_guard(relay))])

    @api.post(
        "/v1/admin/clients",
        summary="Create an API client; the response shows its API key once",
        status_code=201,
        response_class=Response,
        responses=responses(
            201, schemas.ClientCreated, "The client and its key", 400, 401, 408, 413, 415, 503
        ),
        openapi_extra=body_doc("ClientCreateRequest") | ADMIN_SECURITY,
    )
    async def create_client(request: Request) -> Response:
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=(schemas.JSON,), timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, schemas.ClientCreateRequest)
        client, api_key = relay.clients.create(
            req.name, audience=req.audience, now_ms=relay.clock(), role=req.role
        )
        return json_response(client.to_json() | {"apiKey": api_key}, 201)

    @api.get(
        "/v1/admin/clients",
        summary="List API clients",
        response_class=Response,
        responses=responses(200, schemas.ClientList, "Clients", 400, 401, 503),
        openapi_extra=ADMIN_SECURITY,
    )
    async def list_clients(
        includeRevoked: bool = Query(False),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> Response:
        rows = relay.clients.list_clients(include_revoked=includeRevoked, limit=limit, offset=offset)
        return json_response({"clients": [c.to_json() for c in rows]})

    @api.post(
        "/v1/admin/clients/{client_id}/revoke",
        summary="Revoke an API client (effective on the next request; idempotent)",
        response_class=Response,
        responses=responses(200, schemas.ClientOut, "The revoked client", 401, 404, 503),
        openapi_extra=ADMIN_SECURITY,
    )
    async def revoke_client(client_id: str) -> Response:
        client = relay.clients.revoke(client_id, now_ms=relay.clock())
        if client is None:
            raise Refused(errors.NOT_FOUND, "no such client")
        return json_response(client.to_json())

    return api

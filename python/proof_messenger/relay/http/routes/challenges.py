"""``POST /v1/challenges``: a one-time nonce for a subject, bound to the client's audience."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ...stores.clients import ApiClient
from .. import schemas
from ..bodies import parse_model, read_body
from ..encoding import json_response
from ..guards import client_guard
from ..openapi import CLIENT_SECURITY, body_doc, responses

if TYPE_CHECKING:
    from ...service import Relay


def router(relay: Relay) -> APIRouter:
    cfg = relay.config
    client_auth = Depends(client_guard(relay))
    api = APIRouter(tags=["verify"])

    @api.post(
        "/v1/challenges",
        summary="Issue a one-time challenge nonce for a subject",
        status_code=201,
        response_class=Response,
        responses=responses(201, schemas.ChallengeOut, "The challenge", 400, 401, 408, 413, 415, 429, 503),
        openapi_extra=body_doc("ChallengeRequest") | CLIENT_SECURITY,
    )
    async def challenge(request: Request, client: ApiClient = client_auth) -> Response:
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=(schemas.JSON,), timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, schemas.ChallengeRequest)
        ch = relay.issue_challenge(client, req.subject, req.ttlMs)
        return json_response(ch.to_json(), 201)

    return api

"""The key registry's admin API: enroll, list, get and revoke a subject's public keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

import proof_messenger as pm

from ... import errors
from ...errors import Refused
from ...stores.registry import AlreadyEnrolled
from .. import schemas
from ..bodies import parse_model, read_body
from ..encoding import json_response
from ..guards import admin_guard
from ..openapi import ADMIN_SECURITY, body_doc, responses

if TYPE_CHECKING:
    from ...service import Relay


def parse_public_key(text: str) -> pm.VerifyingKey:
    """base64 (raw or SPKI) or PEM; the core decides validity (an invalid or weak key is a 400)."""
    try:
        if text.lstrip().startswith("-----BEGIN"):
            return pm.VerifyingKey.from_pem(text)
        return pm.VerifyingKey.from_base64(text)
    except pm.ProofMessengerError as exc:
        raise Refused(exc.code, exc.detail) from None


def router(relay: Relay) -> APIRouter:
    cfg = relay.config
    api = APIRouter(tags=["admin"], dependencies=[Depends(admin_guard(relay))])

    @api.post(
        "/v1/admin/keys",
        summary="Enroll a public key for a subject",
        status_code=201,
        response_class=Response,
        responses=responses(201, schemas.KeyOut, "The enrollment", 400, 401, 408, 409, 413, 415, 503),
        openapi_extra=body_doc("KeyEnrollRequest") | ADMIN_SECURITY,
    )
    async def enroll_key(request: Request) -> Response:
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=(schemas.JSON,), timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, schemas.KeyEnrollRequest)
        if req.notBefore is not None and req.notAfter is not None and req.notAfter <= req.notBefore:
            raise Refused(errors.INVALID_REQUEST, "notAfter must be later than notBefore")
        vk = parse_public_key(req.publicKey)
        try:
            rec = relay.registry.enroll(
                req.subject,
                vk.to_bytes(),
                key_id=vk.key_id,
                label=req.label,
                not_before_ms=req.notBefore,
                not_after_ms=req.notAfter,
                now_ms=relay.clock(),
            )
        except AlreadyEnrolled as exc:
            raise Refused(errors.ALREADY_ENROLLED, str(exc)) from None
        return json_response(rec.to_json(), 201)

    @api.get(
        "/v1/admin/keys",
        summary="List enrolled keys",
        response_class=Response,
        responses=responses(200, schemas.KeyList, "Keys", 400, 401, 503),
        openapi_extra=ADMIN_SECURITY,
    )
    async def list_keys(
        subject: str | None = Query(None, max_length=1024),
        includeRevoked: bool = Query(False),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> Response:
        recs = relay.registry.list_keys(
            subject=subject, include_revoked=includeRevoked, limit=limit, offset=offset
        )
        return json_response({"keys": [r.to_json() for r in recs]})

    @api.get(
        "/v1/admin/keys/{enrollment_id}",
        summary="Get one enrollment",
        response_class=Response,
        responses=responses(200, schemas.KeyOut, "The enrollment", 401, 404, 503),
        openapi_extra=ADMIN_SECURITY,
    )
    async def get_key(enrollment_id: str) -> Response:
        rec = relay.registry.get(enrollment_id)
        if rec is None:
            raise Refused(errors.NOT_FOUND, "no such enrollment")
        return json_response(rec.to_json())

    @api.post(
        "/v1/admin/keys/{enrollment_id}/revoke",
        summary="Revoke an enrollment (effective on the next request; idempotent)",
        response_class=Response,
        responses=responses(200, schemas.KeyOut, "The revoked enrollment", 401, 404, 503),
        openapi_extra=ADMIN_SECURITY,
    )
    async def revoke_key(enrollment_id: str) -> Response:
        rec = relay.registry.revoke(enrollment_id, now_ms=relay.clock())
        if rec is None:
            raise Refused(errors.NOT_FOUND, "no such enrollment")
        return json_response(rec.to_json())

    return api

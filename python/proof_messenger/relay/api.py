"""The HTTP API (v1): thin handlers that read bounded bodies, authenticate,
call the pipeline or a store, and render JSON. No verification logic here."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

import proof_messenger as pm

from . import errors, schemas
from .bodies import parse_model, read_body
from .clients import ApiClient, admin_token_matches
from .errors import RelayError
from .keys import AlreadyEnrolled

if TYPE_CHECKING:
    from .app import Relay

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_JSON = "application/json"
_CLIENT_SECURITY: dict[str, Any] = {"security": [{"apiKey": []}]}
_ADMIN_SECURITY: dict[str, Any] = {"security": [{"adminToken": []}]}
_ERROR_TEXT = {
    400: "Malformed request (code says why; core codes for malformed proofs)",
    401: "Missing, unknown or revoked credential",
    404: "No such resource",
    408: "The body did not arrive in time",
    409: "Already enrolled",
    413: "Body or batch too large",
    415: "Wrong Content-Type",
    429: "Rate limited; see Retry-After",
    503: "A store is unavailable",
}


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(obj).encode("utf-8"), status_code=status, media_type=_JSON, headers=headers)


def _responses(
    status: int, model: type[BaseModel], description: str, *errors: int
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: the success model and the error envelope for each error status."""
    out: dict[int | str, dict[str, Any]] = {status: {"model": model, "description": description}}
    out.update({c: {"model": schemas.ErrorBody, "description": _ERROR_TEXT[c]} for c in errors})
    return out


def _body_doc(schema_ref: str | dict[str, Any], media: str = _JSON) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{schema_ref}"} if isinstance(schema_ref, str) else schema_ref
    return {"requestBody": {"required": True, "content": {media: {"schema": schema}}}}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        token = header[7:].strip()
        return token or None
    return None


def _unauthorized(detail: str) -> RelayError:
    return RelayError(
        errors.UNAUTHORIZED, detail, headers={"WWW-Authenticate": 'Bearer realm="proof-messenger"'}
    )


def client_guard(relay: Relay) -> Callable[[Request], ApiClient]:
    """The dependency every client-authenticated route uses: the bearer API key must
    name an active client (401 otherwise; a failing store is 503)."""

    def client_auth(request: Request) -> ApiClient:
        token = bearer_token(request)
        if token is None:
            raise _unauthorized("missing bearer API key")
        with relay.store_errors():
            client = relay.clients.authenticate(token)
        if client is None:
            raise _unauthorized("unknown or revoked API key")
        return client

    return client_auth


def admin_guard(relay: Relay) -> Callable[[Request], None]:
    """The dependency every admin route uses: the admin token, compared in constant time."""

    def require_admin(request: Request) -> None:
        token = bearer_token(request)
        if token is None or not admin_token_matches(token, relay.admin_token):
            raise _unauthorized("admin token required")

    return require_admin


def reject_unknown_query(request: Request) -> None:
    """A query parameter the operation does not define is a 400, not silently ignored."""
    route = request.scope.get("route")
    known = {p.alias for p in getattr(getattr(route, "dependant", None), "query_params", ())}
    unknown = sorted(set(request.query_params.keys()) - known)
    if unknown:
        raise RelayError(
            errors.INVALID_REQUEST, f"unknown query parameter(s): {', '.join(map(repr, unknown))}"
        )


def build_router(relay: Relay) -> APIRouter:
    cfg = relay.config
    pipeline = relay.pipeline
    router = APIRouter(dependencies=[Depends(reject_unknown_query)])

    client_auth = client_guard(relay)
    require_admin = admin_guard(relay)

    # -- challenges (the verification endpoints are in hotpath.py) ----------------

    @router.post(
        "/v1/challenges",
        tags=["verify"],
        summary="Issue a one-time challenge nonce for a subject",
        status_code=201,
        response_class=Response,
        responses=_responses(201, schemas.ChallengeOut, "The challenge", 400, 401, 408, 413, 415, 429, 503),
        openapi_extra=_body_doc("ChallengeRequest") | _CLIENT_SECURITY,
    )
    async def challenge(request: Request) -> Response:
        client = client_auth(request)
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=(_JSON,), timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, schemas.ChallengeRequest)
        with relay.store_errors():
            ch = pipeline.issue_challenge(client, req.subject, req.ttlMs)
        return json_response(ch.to_json(), 201)

    # -- admin: key registry -----------------------------------------------------

    admin = [Depends(require_admin)]

    @router.post(
        "/v1/admin/keys",
        tags=["admin"],
        summary="Enroll a public key for a subject",
        status_code=201,
        dependencies=admin,
        response_class=Response,
        responses=_responses(201, schemas.KeyOut, "The enrollment", 400, 401, 408, 409, 413, 415, 503),
        openapi_extra=_body_doc("KeyEnrollRequest") | _ADMIN_SECURITY,
    )
    async def enroll_key(request: Request) -> Response:
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=(_JSON,), timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, schemas.KeyEnrollRequest)
        if req.notBefore is not None and req.notAfter is not None and req.notAfter <= req.notBefore:
            raise RelayError(errors.INVALID_REQUEST, "notAfter must be later than notBefore")
        vk = parse_public_key(req.publicKey)
        try:
            with relay.store_errors():
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
            raise RelayError(errors.ALREADY_ENROLLED, str(exc)) from None
        return json_response(rec.to_json(), 201)

    @router.get(
        "/v1/admin/keys",
        tags=["admin"],
        summary="List enrolled keys",
        dependencies=admin,
        response_class=Response,
        responses=_responses(200, schemas.KeyList, "Keys", 400, 401, 503),
        openapi_extra=_ADMIN_SECURITY,
    )
    async def list_keys(
        subject: str | None = Query(None, max_length=1024),
        includeRevoked: bool = Query(False),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> Response:
        with relay.store_errors():
            recs = relay.registry.list_keys(
                subject=subject, include_revoked=includeRevoked, limit=limit, offset=offset
            )
        return json_response({"keys": [r.to_json() for r in recs]})

    @router.get(
        "/v1/admin/keys/{enrollment_id}",
        tags=["admin"],
        summary="Get one enrollment",
        dependencies=admin,
        response_class=Response,
        responses=_responses(200, schemas.KeyOut, "The enrollment", 401, 404, 503),
        openapi_extra=_ADMIN_SECURITY,
    )
    async def get_key(enrollment_id: str) -> Response:
        with relay.store_errors():
            rec = relay.registry.get(enrollment_id)
        if rec is None:
            raise RelayError(errors.NOT_FOUND, "no such enrollment")
        return json_response(rec.to_json())

    @router.post(
        "/v1/admin/keys/{enrollment_id}/revoke",
        tags=["admin"],
        summary="Revoke an enrollment (effective on the next request; idempotent)",
        dependencies=admin,
        response_class=Response,
        responses=_responses(200, schemas.KeyOut, "The revoked enrollment", 401, 404, 503),
        openapi_extra=_ADMIN_SECURITY,
    )
    async def revoke_key(enrollment_id: str) -> Response:
        with relay.store_errors():
            rec = relay.registry.revoke(enrollment_id, now_ms=relay.clock())
        if rec is None:
            raise RelayError(errors.NOT_FOUND, "no such enrollment")
        return json_response(rec.to_json())

    # -- admin: API clients ------------------------------------------------------

    @router.post(
        "/v1/admin/clients",
        tags=["admin"],
        summary="Create an API client; the response shows its API key once",
        status_code=201,
        dependencies=admin,
        response_class=Response,
        responses=_responses(
            201, schemas.ClientCreated, "The client and its key", 400, 401, 408, 413, 415, 503
        ),
        openapi_extra=_body_doc("ClientCreateRequest") | _ADMIN_SECURITY,
    )
    async def create_client(request: Request) -> Response:
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=(_JSON,), timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, schemas.ClientCreateRequest)
        with relay.store_errors():
            client, api_key = relay.clients.create(req.name, audience=req.audience, now_ms=relay.clock())
        return json_response(client.to_json() | {"apiKey": api_key}, 201)

    @router.get(
        "/v1/admin/clients",
        tags=["admin"],
        summary="List API clients",
        dependencies=admin,
        response_class=Response,
        responses=_responses(200, schemas.ClientList, "Clients", 400, 401, 503),
        openapi_extra=_ADMIN_SECURITY,
    )
    async def list_clients(
        includeRevoked: bool = Query(False),
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=10**9),
    ) -> Response:
        with relay.store_errors():
            rows = relay.clients.list_clients(include_revoked=includeRevoked, limit=limit, offset=offset)
        return json_response({"clients": [c.to_json() for c in rows]})

    @router.post(
        "/v1/admin/clients/{client_id}/revoke",
        tags=["admin"],
        summary="Revoke an API client (effective on the next request; idempotent)",
        dependencies=admin,
        response_class=Response,
        responses=_responses(200, schemas.ClientOut, "The revoked client", 401, 404, 503),
        openapi_extra=_ADMIN_SECURITY,
    )
    async def revoke_client(client_id: str) -> Response:
        with relay.store_errors():
            client = relay.clients.revoke(client_id, now_ms=relay.clock())
        if client is None:
            raise RelayError(errors.NOT_FOUND, "no such client")
        return json_response(client.to_json())

    # -- operations --------------------------------------------------------------

    @router.get(
        "/healthz",
        tags=["ops"],
        summary="Liveness",
        response_class=Response,
        responses={200: {"model": schemas.Health, "description": "Alive"}},
    )
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @router.get(
        "/readyz",
        tags=["ops"],
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
        return json_response({"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503)

    @router.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}
        },
    )
    async def metrics() -> Response:
        data, content_type = relay.metrics.render()
        return Response(data, media_type=content_type)

    return router


def parse_public_key(text: str) -> pm.VerifyingKey:
    """base64 (raw or SPKI) or PEM; the core decides validity (invalid/weak key -> 400)."""
    try:
        if text.lstrip().startswith("-----BEGIN"):
            return pm.VerifyingKey.from_pem(text)
        return pm.VerifyingKey.from_base64(text)
    except pm.ProofMessengerError as exc:
        raise RelayError(exc.code, exc.detail, status=400) from None

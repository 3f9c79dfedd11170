"""The audit log's HTTP API on the relay.

* ``GET /audit/...``: the read API of :mod:`proof_messenger.auditlog.http`
  (latest checkpoint, public key, entries, inclusion and consistency proofs,
  receipts), behind the relay's client authentication (entries name clients
  and subjects);
* ``POST /v1/admin/audit/checkpoint`` (admin): an on-demand checkpoint,
  persisted and pushed to the witnesses.

Mounted only when the relay's sink is the Merkle log (:class:`MerkleAuditSink`).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from fastapi.routing import APIRoute

from proof_messenger.auditlog import AuditLog
from proof_messenger.auditlog.http import audit_router

from . import schemas
from .api import admin_guard, client_guard, json_response, reject_unknown_query
from .audit import MerkleAuditSink

if TYPE_CHECKING:
    from .app import Relay

_ERRORS = {
    400: "Malformed request",
    401: "Missing, unknown or revoked credential",
    404: "No such entry or tree size (only checkpointed sizes are served)",
    503: "The audit log is unavailable",
}


def _error_docs(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": schemas.ErrorBody, "description": _ERRORS[c]} for c in codes}


def mount_audit(app: FastAPI, relay: Relay) -> None:
    sink = relay.audit
    if not isinstance(sink, MerkleAuditSink):
        return

    def get_log() -> AuditLog:
        return sink.log

    client_auth = client_guard(relay)
    require_admin = admin_guard(relay)

    reader = audit_router(get_log, dependencies=[Depends(reject_unknown_query), Depends(client_auth)])
    for route in reader.routes:
        if isinstance(route, APIRoute):
            route.openapi_extra = {**(route.openapi_extra or {}), "security": [{"apiKey": []}]}
    app.include_router(reader, responses=_error_docs(400, 401, 404, 503))

    @app.post(
        "/v1/admin/audit/checkpoint",
        tags=["admin"],
        summary="Sign, persist and push an audit checkpoint now",
        response_class=Response,
        responses={
            200: {"model": schemas.AuditCheckpoint, "description": "The checkpoint"},
            **_error_docs(401, 503),
        },
        dependencies=[Depends(reject_unknown_query), Depends(require_admin)],
        openapi_extra={"security": [{"adminToken": []}]},
    )
    def audit_checkpoint() -> Response:
        with relay.store_errors():
            cp = sink.checkpoint()
        return json_response(
            {
                "origin": sink.log.origin,
                "size": cp.size,
                "rootHash": base64.b64encode(cp.root).decode(),
                "checkpoint": cp.note,
            }
        )

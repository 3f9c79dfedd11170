"""The audit log over HTTP (docs/AUDIT_LOG.md):

    GET /audit/checkpoint                       latest signed checkpoint (text/plain, a C2SP note)
    GET /audit/public-key                       the log's vkey (text/plain)
    GET /audit/entries/{index}                  the entry's exact leaf bytes (application/json)
    GET /audit/proof/inclusion?index=&size=     inclusion proof (size defaults to the latest checkpoint)
    GET /audit/proof/consistency?old=&new=      consistency proof between two tree sizes
    GET /audit/receipts/{index}                 a fresh receipt: entry, latest checkpoint, proof
    POST /v1/admin/audit/checkpoint             (admin) sign, persist and push a checkpoint now

The read API is behind client authentication (entries name clients and
subjects). An entry, and the full receipt that carries it, goes only to the API
client that made the decision or to a client with the ``auditor`` role (403
``forbidden`` otherwise); checkpoints, the public key and proofs, which hold
only hashes, go to every API client. Only sizes up to the latest signed checkpoint are served; hashes
are standard base64, as in checkpoints. Mounted only when the relay's sink is
the Merkle log (:class:`~proof_messenger.relay.audit.MerkleAuditSink`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from proof_messenger.auditlog import AuditLog

from ... import errors
from ...audit import MerkleAuditSink
from ...errors import Refused
from ...stores.clients import AUDITOR, ApiClient
from .. import schemas
from ..encoding import json_response
from ..guards import admin_guard, client_guard
from ..openapi import ADMIN_SECURITY, CLIENT_SECURITY, errors_doc

if TYPE_CHECKING:
    from ...service import Relay

TEXT = "text/plain; charset=utf-8"


def _b64(hashes: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def _open(request: Request) -> None:
    return None


def _check_reader(reader: ApiClient | None, entry: bytes, index: int) -> None:
    """An entry goes to the client that made its decision or to an auditor."""
    if reader is None or reader.role == AUDITOR:
        return
    if json.loads(entry).get("client") != reader.id:
        raise Refused(
            errors.FORBIDDEN, f"entry {index} is another API client's decision (the auditor role reads all)"
        )


def read_api(
    get_log: Callable[[], AuditLog], *, client: Callable[[Request], ApiClient] | None = None
) -> APIRouter:
    """The log's read routes; ``client`` (the relay's client guard) authenticates each,
    and entries and full receipts go only to their client or an auditor. Without it
    the routes are open (a log served to anyone, as in tests)."""
    reader: Callable[[Request], ApiClient | None] = client or _open

    def authenticated(request: Request) -> None:
        # Before the parameters are read (authenticate before any work); the entry
        # routes then know who reads.
        request.state.pm_reader = reader(request)

    codes = (400, 401, 403, 404, 503) if client else (400, 404, 503)
    api = APIRouter(
        prefix="/audit",
        tags=["audit log"],
        dependencies=[Depends(authenticated)],
        responses=errors_doc(*codes),
    )
    extra = CLIENT_SECURITY if client else None

    def size_or_latest(log: AuditLog, size: int | None) -> int:
        latest = log.latest.size
        if size is None:
            return latest
        if not 0 <= size <= latest:
            raise Refused(errors.NOT_FOUND, f"tree size {size} is beyond the latest checkpoint ({latest})")
        return size

    @api.get(
        "/checkpoint", response_class=Response, responses={200: {"content": {TEXT: {}}}}, openapi_extra=extra
    )
    def checkpoint() -> Response:
        return Response(get_log().latest.note, media_type=TEXT, headers={"Cache-Control": "no-store"})

    @api.get(
        "/public-key", response_class=Response, responses={200: {"content": {TEXT: {}}}}, openapi_extra=extra
    )
    def public_key() -> Response:
        return Response(get_log().verifier.vkey + "\n", media_type=TEXT)

    @api.get("/entries/{index}", response_class=Response, openapi_extra=extra)
    def entry(index: int, request: Request) -> Response:
        caller: ApiClient | None = request.state.pm_reader
        log = get_log()
        if not 0 <= index < log.latest.size:
            raise Refused(errors.NOT_FOUND, f"no checkpointed entry {index}")
        data = log.entry(index)
        _check_reader(caller, data, index)
        return Response(data, media_type="application/json")

    @api.get("/proof/inclusion", openapi_extra=extra)
    def inclusion(index: int = Query(ge=0), size: int | None = Query(default=None, ge=1)) -> dict[str, Any]:
        log = get_log()
        n = size_or_latest(log, size)
        if index >= n:
            raise Refused(errors.NOT_FOUND, f"entry {index} is not in the tree of size {n}")
        return {
            "origin": log.origin,
            "index": index,
            "treeSize": n,
            "proof": _b64(log.inclusion_proof(index, n)),
        }

    @api.get("/proof/consistency", openapi_extra=extra)
    def consistency(old: int = Query(ge=0), new: int | None = Query(default=None, ge=0)) -> dict[str, Any]:
        log = get_log()
        n = size_or_latest(log, new)
        if old > n:
            raise Refused(errors.INVALID_REQUEST, f"old size {old} is larger than new size {n}")
        return {"origin": log.origin, "old": old, "new": n, "proof": _b64(log.consistency_proof(old, n))}

    @api.get("/receipts/{index}", openapi_extra=extra)
    def receipt(index: int, request: Request) -> dict[str, Any]:
        caller: ApiClient | None = request.state.pm_reader
        log = get_log()
        if not 0 <= index < log.latest.size:
            raise Refused(errors.NOT_FOUND, f"no checkpointed entry {index}")
        _check_reader(caller, log.entry(index), index)
        return log.receipt(index).to_dict()

    return api


def router(relay: Relay) -> APIRouter:
    api = APIRouter()
    sink = relay.audit
    if not isinstance(sink, MerkleAuditSink):
        return api
    api.include_router(read_api(lambda: sink.log, client=client_guard(relay)))

    @api.post(
        "/v1/admin/audit/checkpoint",
        tags=["admin"],
        summary="Sign, persist and push an audit checkpoint now",
        response_class=Response,
        responses={
            200: {"model": schemas.AuditCheckpoint, "description": "The checkpoint"},
            **errors_doc(401, 503),
        },
        dependencies=[Depends(admin_guard(relay))],
        openapi_extra=ADMIN_SECURITY,
    )
    def audit_checkpoint() -> Response:
        cp = sink.checkpoint()
        return json_response(
            {
                "origin": sink.log.origin,
                "size": cp.size,
                "rootHash": base64.b64encode(cp.root).decode(),
                "checkpoint": cp.note,
            }
        )

    return api

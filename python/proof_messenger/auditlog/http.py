"""HTTP read API of one audit log, as a FastAPI router the relay mounts.

    GET /audit/checkpoint                       latest signed checkpoint (text/plain, a C2SP note)
    GET /audit/public-key                       the log's vkey (text/plain)
    GET /audit/entries/{index}                  the entry's exact leaf bytes (application/json)
    GET /audit/proof/inclusion?index=&size=     inclusion proof (size defaults to the latest checkpoint)
    GET /audit/proof/consistency?old=&new=      consistency proof between two tree sizes
    GET /audit/receipts/{index}                 a fresh receipt: entry, latest checkpoint, proof

Only sizes up to the latest signed checkpoint are served. Hashes are
standard base64, as in checkpoints. ``dependencies`` (e.g. the relay's client
authentication) apply to every route: entries name clients and subjects.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.params import Depends

from .log import AuditLog

TEXT = "text/plain; charset=utf-8"


def _b64(hashes: Sequence[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def audit_router(get_log: Callable[[], AuditLog], *, dependencies: Sequence[Depends] = ()) -> APIRouter:
    router = APIRouter(prefix="/audit", tags=["audit log"], dependencies=list(dependencies))

    def size_or_latest(log: AuditLog, size: int | None) -> int:
        latest = log.latest.size
        if size is None:
            return latest
        if not 0 <= size <= latest:
            raise HTTPException(404, f"tree size {size} is not checkpointed (latest: {latest})")
        return size

    @router.get("/checkpoint", response_class=Response, responses={200: {"content": {TEXT: {}}}})
    def checkpoint() -> Response:
        return Response(get_log().latest.note, media_type=TEXT, headers={"Cache-Control": "no-store"})

    @router.get("/public-key", response_class=Response, responses={200: {"content": {TEXT: {}}}})
    def public_key() -> Response:
        return Response(get_log().verifier.vkey + "\n", media_type=TEXT)

    @router.get("/entries/{index}", response_class=Response)
    def entry(index: int) -> Response:
        log = get_log()
        if not 0 <= index < log.latest.size:
            raise HTTPException(404, f"no checkpointed entry {index}")
        return Response(log.entry(index), media_type="application/json")

    @router.get("/proof/inclusion")
    def inclusion(index: int = Query(ge=0), size: int | None = Query(default=None, ge=1)) -> dict[str, Any]:
        log = get_log()
        n = size_or_latest(log, size)
        if index >= n:
            raise HTTPException(404, f"entry {index} is not in the tree of size {n}")
        return {
            "origin": log.origin,
            "index": index,
            "treeSize": n,
            "proof": _b64(log.inclusion_proof(index, n)),
        }

    @router.get("/proof/consistency")
    def consistency(old: int = Query(ge=0), new: int | None = Query(default=None, ge=0)) -> dict[str, Any]:
        log = get_log()
        n = size_or_latest(log, new)
        if old > n:
            raise HTTPException(400, f"old size {old} is larger than new size {n}")
        return {"origin": log.origin, "old": old, "new": n, "proof": _b64(log.consistency_proof(old, n))}

    @router.get("/receipts/{index}")
    def receipt(index: int) -> dict[str, Any]:
        log = get_log()
        if not 0 <= index < log.latest.size:
            raise HTTPException(404, f"no checkpointed entry {index}")
        return log.receipt(index).to_dict()

    return router

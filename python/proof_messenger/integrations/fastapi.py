"""FastAPI / Starlette: a dependency that requires a valid proof for the exact request body.

    verifier = RelayVerifier("http://127.0.0.1:8787", api_key, audience="payments-api")

    @app.post("/api/execute-transfer")
    async def execute_transfer(proof: VerifiedProof = Depends(require_proof(verifier))):
        transfer = proof.context          # the verified, signed request: act on this
        ...

A request without a valid proof never reaches the endpoint: it is answered
with ``{"detail": {"code": ..., "detail": ...}}`` and 400/401/403/429/503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from .binding import PROOF_HEADER, acheck_request
from .verifiers import INVALID_BODY, ProofRejected, VerifiedProof, Verifier


def require_proof(
    verifier: Verifier, *, max_body_bytes: int = 65_536
) -> Callable[[Request], Awaitable[VerifiedProof]]:
    async def dependency(request: Request) -> VerifiedProof:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise _too_large(max_body_bytes)
        # A running limit while the body streams in: a chunked (or lying) upload is cut off at
        # the first chunk over the limit instead of being buffered whole.
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise _too_large(max_body_bytes)
            chunks.append(chunk)
        body = b"".join(chunks)
        request._body = body  # Starlette's body cache: the endpoint reads these same bytes
        try:
            return await acheck_request(verifier, body, request.headers.get(PROOF_HEADER))
        except ProofRejected as exc:
            headers = {"WWW-Authenticate": "Proof-Messenger"} if exc.status == 401 else None
            raise HTTPException(
                exc.status, detail={"code": exc.code, "detail": exc.detail}, headers=headers
            ) from None

    dependency.__doc__ = f"Requires a proof (header {PROOF_HEADER}) whose context is the request body."
    return dependency


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, detail={"code": "input_too_large", "detail": f"body exceeds {limit} bytes"})


__all__ = ["INVALID_BODY", "require_proof"]

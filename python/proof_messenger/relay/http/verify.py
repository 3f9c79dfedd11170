"""The two verification endpoints, as plain ASGI.

``POST /v1/proofs/verify`` and ``POST /v1/proofs/verify-batch`` carry nearly all
of the relay's traffic, so they skip the framework's per-request machinery
(measured: a trivial FastAPI endpoint serves ~3x fewer requests per second
than the same endpoint as plain ASGI under uvicorn). Each request becomes one
:class:`~proof_messenger.relay.engine.Job`: the API key is authenticated and
the request's share of the in-flight bounds reserved before the body is read
(``relay.http.admission``), the body is read within its size and time limits, and the
group runner takes it through the engine; the answer is the body the engine
wrote, or the refusal mapped by ``relay.http.errors``. They are documented in
the OpenAPI document like every other operation (``openapi.verify_operations``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import Receive, Scope, Send

from .. import errors
from ..engine import GroupRunner, Job
from ..errors import Refused
from . import schemas
from .admission import Admission
from .bodies import read_asgi_body
from .errors import Headers, error_answer, refusal_answer
from .guards import bearer

if TYPE_CHECKING:
    from ..service import Relay

VERIFY = "/v1/proofs/verify"
VERIFY_BATCH = "/v1/proofs/verify-batch"
PATHS = (VERIFY, VERIFY_BATCH)
_WANTED = {b"authorization", b"content-type", b"content-length"}
_JSON_HEADERS = [(b"content-type", b"application/json")]


async def send_answer(send: Send, status: int, body: bytes, headers: Headers) -> None:
    raw = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class VerifyEndpoints:
    """Serves the two verification paths (anything else is not routed here)."""

    def __init__(self, relay: Relay, runner: GroupRunner, admission: Admission) -> None:
        self.relay = relay
        self.runner = runner
        self.admission = admission
        cfg = relay.config
        self._limits = {
            VERIFY: (cfg.max_body_bytes, ("application/json",)),
            VERIFY_BATCH: (cfg.max_batch_bytes, (schemas.NDJSON,)),
        }

    async def serve(self, scope: Scope, receive: Receive, send: Send, extra: Headers) -> int:
        """Answers one request (``extra``: response headers to add); returns the status sent."""
        if scope["method"] != "POST":
            answer = refusal_answer(
                Refused(errors.METHOD_NOT_ALLOWED, "Method Not Allowed"), {"Allow": "POST"}
            )
        else:
            try:
                job = await self._run(scope, receive)
            except Exception as exc:  # a refusal before the engine, a failing store, or a bug
                answer = error_answer(exc)
            else:
                if job.refusal is not None:
                    answer = error_answer(job.refusal)
                elif job.body is None:  # the engine answers every job it does not refuse
                    answer = error_answer(RuntimeError("the engine left a job without an answer"))
                else:
                    answer = (200, job.body, [])
        status, body, headers = answer
        if not scope.get("pm.body_read"):
            # Refused from the head: the unread body is not drained (parsing it would cost the
            # relay what admission saved); closing the connection discards it.
            headers = [*headers, (b"connection", b"close")]
        await send_answer(send, status, body, [*headers, *extra])
        return status

    async def _run(self, scope: Scope, receive: Receive) -> Job:
        path, cfg = scope["path"], self.relay.config
        raw = scope["headers"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw if k in _WANTED}
        token = bearer([v.decode("latin-1") for k, v in raw if k == b"authorization"])
        peer = scope.get("client")
        source = peer[0] if peer else None
        # Authenticated before the body is read: an outsider gets a 401 (or 429) for the
        # price of its request head, and holds none of the relay's memory.
        client = await self.admission.authenticate(token, source)
        if scope.get("query_string"):
            raise Refused(errors.INVALID_REQUEST, "this operation takes no query parameters")
        limit, media = self._limits[path]
        declared = headers.get("content-length")
        size = int(declared) if declared is not None and declared.isdigit() else limit
        reservation = self.admission.reserve(client.id, min(size, limit))
        try:
            body = await read_asgi_body(
                headers, receive, limit=limit, media_types=media, timeout_s=cfg.body_timeout_s
            )
            scope["pm.body_read"] = True
            return await self._verify(path, body, token, scope.get("pm.request_id"), source)
        finally:
            reservation.release()

    async def _verify(
        self, path: str, body: bytes, token: str | None, request_id: str | None, source: str | None
    ) -> Job:
        cfg = self.relay.config
        if path == VERIFY:
            bodies = [body]
        else:
            bodies = body.split(b"\n")
            if not bodies[-1].strip():
                bodies.pop()  # what follows the last newline
            if not bodies:
                raise Refused(errors.INVALID_REQUEST, "the batch is empty")
            # Results follow the lines one to one: a skipped blank line would shift them.
            blank = next((n for n, line in enumerate(bodies, 1) if not line.strip()), None)
            if blank is not None:
                raise Refused(errors.INVALID_REQUEST, f"line {blank} is blank (one proof per line)")
            if len(bodies) > cfg.max_batch_count:
                raise Refused(errors.BATCH_TOO_LARGE, f"at most {cfg.max_batch_count} proofs per batch")
        # The engine authenticates the credential again, against the store, for its group.
        job = Job(bodies, single=path == VERIFY, credential=token, request_id=request_id, remote_addr=source)
        started = time.perf_counter()
        await self.runner.run(job)
        if job.refusal is not None and job.refusal.code == errors.UNAUTHORIZED and token is not None:
            self.admission.forget(token)  # revoked after admission remembered it
        metrics = self.relay.metrics
        metrics.verify_latency.labels(path).observe(time.perf_counter() - started)
        if path == VERIFY_BATCH:
            metrics.batch_size.observe(len(bodies))
        return job

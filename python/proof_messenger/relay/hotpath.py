"""The verification endpoints as plain ASGI, and the job coalescer behind them.

``POST /v1/proofs/verify`` and ``POST /v1/proofs/verify-batch`` carry nearly all
of the relay's traffic, so they skip the framework's per-request machinery
(measured: a trivial FastAPI endpoint serves ~3x fewer requests per second
than the same endpoint as plain ASGI under uvicorn). They are documented in
the OpenAPI document like every other operation (:func:`openapi_paths`).

:class:`Coalescer` runs verification jobs a group at a time: jobs that arrive
while a group runs form the next group, so under load many single-proof
requests share one parse and one ``verify_batch`` (GIL released, all cores),
one registry query, one nonce transaction and one audit write, and at low load
a job starts at once (nothing waits for a batch to fill). Three threads form a
pipeline: one verifies group k+1 (mostly native code, GIL released) while a
second records group k (nonces, audit entries, decision lines: Python) and a
third makes group k-1 durable (one fsync); a request is answered once its
group is on disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from starlette.types import Receive, Scope, Send

from proof_messenger._core import verdicts, verdicts_body

from . import errors, jsonout, schemas
from .bodies import read_asgi_body
from .clients import ApiClient
from .errors import RelayError
from .pipeline import Job, Pipeline

if TYPE_CHECKING:
    from .app import Relay

log = logging.getLogger("proof_messenger.relay")
VERIFY = "/v1/proofs/verify"
VERIFY_BATCH = "/v1/proofs/verify-batch"
PATHS = (VERIFY, VERIFY_BATCH)
_WWW_AUTH = 'Bearer realm="proof-messenger"'


class Coalescer:
    """Runs :class:`Job` s in groups through ``pipeline.prepare`` (verifier thread),
    ``pipeline.finish`` (recorder thread) and the audit commit (commit thread).

    They overlap: while the recorder records group k, the verifier threads
    (``verifier_threads``, two by default: their native work runs without the
    GIL, so two groups' verifications share the cores with the recorder's Python)
    already verify groups k+1 and k+2, and one fsync covers every entry appended
    before it started (a later group's commit then finds its entries durable and
    returns at once). Groups are recorded in the order they were formed (one
    recorder thread, first in first out, and each group waits for its
    predecessor's turn), so nonces are consumed in arrival order. A group's
    requests are answered only after the commit that covers them, so no receipt
    is handed out for an entry that is not on disk. At most
    ``max_groups_ahead`` groups are between verification and answer.

    Single event loop only. ``max_group_proofs`` bounds a group (a larger batch
    job still runs, alone)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        max_group_proofs: int = 1000,
        max_groups_ahead: int = 3,
        verifier_threads: int = 2,
    ) -> None:
        self.pipeline = pipeline
        self.max_group_proofs = max_group_proofs
        self.max_groups_ahead = max_groups_ahead
        self.verifier_threads = verifier_threads
        self._queue: list[tuple[Job, asyncio.Future[None]]] = []
        self._busy = False
        # Dedicated threads (lighter than a generic pool hop); created on first use, so
        # an app restarted after close() works again.
        self._executor: ThreadPoolExecutor | None = None
        self._finisher: ThreadPoolExecutor | None = None
        self._committer: ThreadPoolExecutor | None = None
        self._in_flight: list[asyncio.Task[None]] = []
        self._verifying = 0  # groups in the verifier threads
        self._progress = asyncio.Event()  # set when a verification or a group ends
        self._last_turn: asyncio.Future[None] | None = None

    async def run(self, job: Job) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((job, fut))
        if not self._busy:
            self._busy = True
            asyncio.get_running_loop().create_task(self._drain())
        await fut

    def _next_group(self) -> list[tuple[Job, asyncio.Future[None]]]:
        n, size = 0, 0
        for job, _ in self._queue:
            if n and size + len(job.bodies) > self.max_group_proofs:
                break
            n, size = n + 1, size + len(job.bodies)
        group, self._queue = self._queue[:n], self._queue[n:]
        return group

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                # A group forms from whatever queued while verification was busy, and at
                # most max_groups_ahead groups are between verification and answer.
                while (
                    self._verifying >= self._verifier_slots() or len(self._in_flight) >= self.max_groups_ahead
                ):
                    self._progress.clear()
                    await self._progress.wait()
                if not self._queue:
                    break
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(self.verifier_threads, thread_name_prefix="pm-verify")
                    self._finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pm-record")
                    self._committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pm-commit")
                turn: asyncio.Future[None] = loop.create_future()
                self._verifying += 1
                task = loop.create_task(self._run_group(self._next_group(), self._last_turn, turn))
                self._last_turn = turn
                self._in_flight.append(task)
                task.add_done_callback(self._group_done)
                await asyncio.sleep(0)  # let the group's verification start before the next forms
        finally:
            self._busy = False

    def _verifier_slots(self) -> int:
        """Groups that may be verified at once: all verifier threads when at least half a
        full group is waiting (batches), else one, so that concurrent single-proof
        requests keep coalescing into groups as large as one verification's duration
        allows (every group costs a transaction and an fsync)."""
        queued = sum(len(job.bodies) for job, _ in self._queue)
        return self.verifier_threads if queued * 2 >= self.max_group_proofs else 1

    def _group_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.remove(task)
        self._progress.set()

    async def _run_group(
        self,
        group: list[tuple[Job, asyncio.Future[None]]],
        before: asyncio.Future[None] | None,
        turn: asyncio.Future[None],
    ) -> None:
        """Verifies the group (verifier threads: groups may overlap here), records it
        after the group before it (one recorder thread, first in first out: nonces are
        consumed in arrival order), makes it durable, then answers its requests.
        ``turn`` is set once this group's recording is queued, or it failed."""
        loop = asyncio.get_running_loop()
        jobs = [job for job, _ in group]
        try:
            try:
                prepared = await loop.run_in_executor(self._executor, self.pipeline.prepare, jobs)
            finally:
                self._verifying -= 1
                self._progress.set()
            if before is not None:
                await asyncio.shield(before)
            recorded = loop.run_in_executor(self._finisher, self.pipeline.finish, prepared)
            turn.set_result(None)
            await recorded
            await loop.run_in_executor(self._committer, self._commit, jobs)
        except asyncio.CancelledError:  # the loop is shutting down
            for _, fut in group:
                fut.cancel()
            raise
        except BaseException as exc:  # a store failed: every job of the group learns it
            _settle(group, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            _settle(group, None)
        finally:
            if not turn.done():
                turn.set_result(None)

    def _commit(self, jobs: Sequence[Job]) -> None:
        """Makes the group's audit entries durable, completes their receipts, then
        writes the group's decision events and metrics (``pipeline.publish``)."""
        audit = self.pipeline.audit
        audit.sync()
        audit.attach_checkpoint([d for job in jobs if job.error is None for d in job.decisions])
        self.pipeline.publish(jobs)

    def close(self) -> None:
        for name in ("_executor", "_finisher", "_committer"):
            executor = getattr(self, name)
            setattr(self, name, None)
            if executor is not None:
                executor.shutdown(wait=True)
        # Loop-bound state: a restarted app runs on a new event loop.
        self._progress = asyncio.Event()
        self._last_turn = None
        self._in_flight.clear()
        self._verifying = 0


def _settle(group: list[tuple[Job, asyncio.Future[None]]], error: BaseException | None) -> None:
    for _, fut in group:
        if fut.done():
            continue
        if error is None:
            fut.set_result(None)
        else:
            fut.set_exception(error)


_WANTED = {b"authorization", b"content-type", b"content-length"}


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _WANTED}


def bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization")
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


async def send_json(
    send: Send,
    status: int,
    obj: Any,
    headers: dict[str, str] | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Sends ``obj`` as JSON (``bytes``: already encoded)."""
    body = obj if isinstance(obj, bytes) else jsonout.dumps(obj)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    if extra:
        raw += extra
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class VerifyEndpoints:
    """ASGI app for the two verification paths (anything else is not routed here)."""

    def __init__(self, relay: Relay, coalescer: Coalescer) -> None:
        self.relay = relay
        self.coalescer = coalescer
        cfg = relay.config
        self._limits = {
            VERIFY: (cfg.max_body_bytes, ("application/json",)),
            VERIFY_BATCH: (cfg.max_batch_bytes, (schemas.NDJSON,)),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.serve(scope, receive, send)

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, extra: list[tuple[bytes, bytes]] | None = None
    ) -> int:
        """Answers one request (``extra``: response headers to add); returns the status sent."""
        path = scope["path"]
        if scope["method"] != "POST":
            err = RelayError(errors.METHOD_NOT_ALLOWED, "Method Not Allowed", headers={"Allow": "POST"})
            await send_json(send, err.status, err.body(), err.headers, extra)
            return err.status
        try:
            status, payload = await self._handle(path, scope, receive)
            await send_json(send, status, payload, None, extra)
            return status
        except RelayError as err:
            await send_json(send, err.status, err.body(), err.headers, extra)
            return err.status
        except Exception:  # a bug: log it, answer 500 with the envelope
            log.exception("unhandled error on POST %s", path)
            await send_json(
                send, 500, RelayError(errors.INTERNAL_ERROR, "internal error").body(), None, extra
            )
            return 500

    async def _handle(self, path: str, scope: Scope, receive: Receive) -> tuple[int, Any]:
        relay, cfg = self.relay, self.relay.config
        if scope.get("query_string"):
            raise RelayError(errors.INVALID_REQUEST, "this operation takes no query parameters")
        headers = _headers(scope)
        token = bearer(headers)
        if token is None:  # no credentials: refused before the body is read
            raise RelayError(
                errors.UNAUTHORIZED, "missing bearer API key", headers={"WWW-Authenticate": _WWW_AUTH}
            )
        limit, media = self._limits[path]
        body = await read_asgi_body(
            headers, receive, limit=limit, media_types=media, timeout_s=cfg.body_timeout_s
        )
        if path == VERIFY:
            bodies = [body]
        else:
            bodies = [line for line in body.split(b"\n") if line.strip()]
            if not bodies:
                raise RelayError(errors.INVALID_REQUEST, "the batch is empty")
            if len(bodies) > cfg.max_batch_count:
                raise RelayError(errors.BATCH_TOO_LARGE, f"at most {cfg.max_batch_count} proofs per batch")
        client = scope.get("client")
        job = Job(
            bodies,
            self._authenticator(token),
            single=path == VERIFY,
            credential=token,
            request_id=scope.get("pm.request_id"),
            remote_addr=client[0] if client else None,
        )
        started = time.perf_counter()
        with relay.store_errors():
            await self.coalescer.run(job)
        metrics = relay.metrics
        metrics.verify_latency.labels(path).observe(time.perf_counter() - started)
        if path == VERIFY_BATCH:
            metrics.batch_size.observe(len(bodies))
        if job.error is not None:
            raise job.error
        if cfg.audit_receipt == "compact":
            # compact receipts, the context as canonical JSON: written natively, a batch's
            # whole body in one buffer
            try:
                return 200, verdicts(job.decisions)[0] if path == VERIFY else verdicts_body(job.decisions)
            except (ValueError, TypeError, OverflowError):
                pass  # a value the native writer refuses: the dict encoder below
        n_valid = sum(1 for d in job.decisions if d.valid)
        compact = cfg.audit_receipt == "compact"
        if path == VERIFY:
            return 200, job.decisions[0].verdict(compact_receipt=compact)
        return 200, {
            "results": [d.verdict(compact_receipt=compact) for d in job.decisions],
            "valid": n_valid,
            "invalid": len(job.decisions) - n_valid,
        }

    def _authenticator(self, token: str) -> Callable[[], ApiClient]:
        clients = self.relay.clients

        def authenticate() -> ApiClient:
            client = clients.authenticate(token)
            if client is None:
                raise RelayError(
                    errors.UNAUTHORIZED, "unknown or revoked API key", headers={"WWW-Authenticate": _WWW_AUTH}
                )
            return client

        return authenticate


def openapi_paths(max_batch_count: int) -> dict[str, Any]:
    """OpenAPI operations of :class:`VerifyEndpoints` (they are not framework routes)."""

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}

    def error(description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": ref("ErrorBody")}}}

    common = {
        "400": error("Malformed request (for /verify: a malformed proof, with the core's code)"),
        "401": error("Missing, unknown or revoked API key"),
        "408": error("The body did not arrive in time"),
        "413": error("Body or batch too large"),
        "415": error("Wrong Content-Type"),
        "429": error("Rate limited; see Retry-After"),
        "503": error("A store is unavailable"),
    }
    return {
        VERIFY: {
            "post": {
                "tags": ["verify"],
                "summary": "Verify one proof",
                "operationId": "verify_proof",
                "description": (
                    "The body is the proof JSON. A malformed proof is 400 with the core's code; every "
                    "later check yields 200 with a verdict (valid=false and a code when a check failed) "
                    "and an audit receipt. The proof must be addressed to the client's audience."
                ),
                "security": [{"apiKey": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("Proof")}}},
                "responses": {
                    "200": {
                        "description": "A verdict",
                        "content": {"application/json": {"schema": ref("Verdict")}},
                    },
                    **common,
                },
            }
        },
        VERIFY_BATCH: {
            "post": {
                "tags": ["verify"],
                "summary": "Verify many proofs (NDJSON, one proof per line)",
                "operationId": "verify_batch",
                "description": (
                    f"Up to max_batch_count proofs (default {max_batch_count}), one JSON proof per "
                    "line (application/x-ndjson). Every line gets a verdict, in order; a malformed line "
                    "or a subject over its rate limit is that line's verdict. The client's rate limit "
                    "is charged one unit per proof."
                ),
                "security": [{"apiKey": []}],
                "requestBody": {
                    "required": True,
                    "content": {schemas.NDJSON: {"schema": {"type": "array", "items": ref("Proof")}}},
                },
                "responses": {
                    "200": {
                        "description": "One verdict per line",
                        "content": {"application/json": {"schema": ref("BatchVerdicts")}},
                    },
                    **common,
                },
            }
        },
    }

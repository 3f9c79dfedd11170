"""The group runner: concurrent requests go through the engine's lifecycle in groups.

Jobs that arrive while a group runs form the next group, so under load many
single-proof requests share one parse, one ``verify_batch`` (GIL released, all
cores), one registry query, one nonce transaction and one audit write and
fsync; at low load a job starts at once (nothing waits for a group to fill).
Three kinds of threads overlap consecutive groups:

    verifier threads   prepare + verify            (mostly native code, GIL released)
    one recorder       record                      (groups in formation order)
    one committer      commit + publish + answer   (one fsync covers every group before it)

A request is answered only when its group's answer step is done, after the
commit that made its entries durable: no receipt is handed out for an entry
that is not on disk, and no decision event is written before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from .engine import Engine, Group
from .job import Job


class GroupRunner:
    """Runs :class:`Job` s through ``engine`` in groups (one event loop only).

    While the recorder records group k, the verifier threads (``verifier_threads``,
    two by default: their native work runs without the GIL, so two groups' verifications
    share the cores with the recorder's Python) verify groups k+1 and k+2. Groups are
    recorded in the order they were formed (one recorder thread, and each group waits
    for its predecessor's turn), so nonces are consumed in arrival order. At most
    ``max_groups_ahead`` groups are between verification and answer;
    ``max_group_proofs`` bounds a group (a larger batch job still runs, alone)."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_group_proofs: int = 1000,
        max_groups_ahead: int = 3,
        verifier_threads: int = 2,
    ) -> None:
        self.engine = engine
        self.max_group_proofs = max_group_proofs
        self.max_groups_ahead = max_groups_ahead
        self.verifier_threads = verifier_threads
        self._queue: list[tuple[Job, asyncio.Future[None]]] = []
        self._busy = False
        # Dedicated threads (lighter than a generic pool hop); created on first use, so
        # an app restarted after close() works again.
        self._verifier: ThreadPoolExecutor | None = None
        self._recorder: ThreadPoolExecutor | None = None
        self._committer: ThreadPoolExecutor | None = None
        self._in_flight: list[asyncio.Task[None]] = []
        self._verifying = 0  # groups in the verifier threads
        self._progress = asyncio.Event()  # set when a verification or a group ends
        self._last_turn: asyncio.Future[None] | None = None

    async def run(self, job: Job) -> None:
        """Runs ``job`` in the next group; returns once it is answered (or refused).
        A store failure of its group raises here."""
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
                if self._verifier is None:
                    self._verifier = ThreadPoolExecutor(self.verifier_threads, thread_name_prefix="pm-verify")
                    self._recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pm-record")
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
        """Prepares and verifies the group (verifier threads: groups may overlap here),
        records it after the group before it, then commits, publishes and answers it.
        ``turn`` is set once this group's recording is queued, or it failed."""
        loop = asyncio.get_running_loop()
        jobs = [job for job, _ in group]
        try:
            try:
                prepared = await loop.run_in_executor(self._verifier, self._prepare, jobs)
            finally:
                self._verifying -= 1
                self._progress.set()
            if before is not None:
                await asyncio.shield(before)
            recorded = loop.run_in_executor(self._recorder, self.engine.record, prepared)
            turn.set_result(None)
            await recorded
            await loop.run_in_executor(self._committer, self._finish, prepared)
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

    def _prepare(self, jobs: Sequence[Job]) -> Group:
        group = self.engine.prepare(jobs)
        self.engine.verify(group)
        return group

    def _finish(self, group: Group) -> None:
        self.engine.commit(group)
        self.engine.publish(group)
        self.engine.answer(group)

    def close(self) -> None:
        for name in ("_verifier", "_recorder", "_committer"):
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

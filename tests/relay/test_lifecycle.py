"""One lifecycle on every path: prepare -> verify -> record -> commit (the audit fsync) ->
publish -> answer, for HTTP requests (through the group runner) and for the embedded
verifier alike. The order is observed, not assumed: the engine's steps, the real
``fdatasync`` of the audit log's entries file, the decision event and the answer are
recorded as they happen. (No periodic checkpoints here: they sync on their own clock.)"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import proof_messenger as pm
import pytest
from proof_messenger.integrations import EmbeddedVerifier, ProofRejected
from proof_messenger.relay.engine import Engine

from .conftest import RelayHarness, make_config, sign

STEPS = ("prepare", "verify", "record", "commit", "publish", "answer")


class Trace:
    """What happened, in order (the engine runs steps in several threads)."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self._lock = threading.Lock()

    def add(self, event: str) -> None:
        with self._lock:
            self.events.append(event)


@pytest.fixture
def trace(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Any], Trace]]:
    """``trace(relay)``: records the relay's engine steps, its audit log's entry syncs and
    its decision events into one trace."""

    def install(relay: Any) -> Trace:
        t = Trace()
        engine: Engine = relay.engine
        for step in STEPS:
            original = getattr(engine, step)

            def traced(*args: Any, _step: str = step, _original: Any = original) -> Any:
                t.add(_step)
                return _original(*args)

            monkeypatch.setattr(engine, step, traced)
        store = relay.audit.log._store
        real_sync = os.fdatasync

        def fdatasync(fd: int) -> None:
            real_sync(fd)
            if fd == store._entries:
                t.add("fsync")

        monkeypatch.setattr(os, "fdatasync", fdatasync)
        emit = relay.events.emit

        def traced_emit(*args: Any, **kwargs: Any) -> None:
            t.add("event")
            emit(*args, **kwargs)

        monkeypatch.setattr(relay.events, "emit", traced_emit)
        return t

    yield install


def _one_group(events: list[str]) -> list[str]:
    return [e for e in events if e in (*STEPS, "fsync", "event", "response")]


EXPECTED = ["prepare", "verify", "record", "commit", "fsync", "publish", "event", "answer", "response"]


@pytest.mark.anyio
async def test_http_path_is_durable_then_published_then_answered(
    make_harness: Callable[..., Any], trace: Callable[[Any], Trace]
) -> None:
    async with make_harness(audit_checkpoint_interval_s=0) as h:
        h: RelayHarness
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        t = trace(h.relay)
        r = await h.verify(sign(key), client)
        t.add("response")
        assert r.status_code == 200 and r.json()["valid"] is True
        assert _one_group(t.events) == EXPECTED


@pytest.mark.anyio
async def test_http_batch_is_durable_before_its_answer(
    make_harness: Callable[..., Any], trace: Callable[[Any], Trace]
) -> None:
    async with make_harness(audit_checkpoint_interval_s=0) as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        t = trace(h.relay)
        r = await h.verify_batch([sign(key), sign(key), b"{}"], client)
        t.add("response")
        assert r.status_code == 200 and (r.json()["valid"], r.json()["invalid"]) == (2, 1)
        assert _one_group(t.events) == EXPECTED


def test_embedded_path_is_durable_then_published_then_answered(
    tmp_path: Path, trace: Callable[[Any], Trace]
) -> None:
    verifier = EmbeddedVerifier(
        make_config(tmp_path / "data", audit_checkpoint_interval_s=0), audience="payments-api"
    )
    try:
        key = pm.SigningKey.generate()
        verifier.enroll("alice", key.verifying_key)
        t = trace(verifier.relay)
        verified = verifier.verify(sign(key).to_json())
        t.add("response")
        assert verified.subject == "alice" and verified.receipt_id is not None
        assert _one_group(t.events) == EXPECTED
        # a rejected proof takes the same path: its rejection is logged and durable first
        t.events.clear()
        with pytest.raises(ProofRejected) as rejected:
            verifier.verify(sign(pm.SigningKey.generate()).to_json())
        t.add("response")
        assert rejected.value.code == "untrusted_key"
        assert _one_group(t.events) == EXPECTED
    finally:
        verifier.close()


@pytest.mark.anyio
async def test_no_sync_without_audit_fsync(
    make_harness: Callable[..., Any], trace: Callable[[Any], Trace]
) -> None:
    async with make_harness(audit_fsync=False, audit_checkpoint_interval_s=0) as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        t = trace(h.relay)
        r = await h.verify(sign(key), client)
        assert r.status_code == 200 and r.json()["valid"] is True
        assert "fsync" not in t.events
        assert [e for e in t.events if e in STEPS] == list(STEPS)

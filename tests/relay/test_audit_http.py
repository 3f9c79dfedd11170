"""The audit log's HTTP read API (relay.http.routes.audit), on a bare app with the relay's error handlers."""

from __future__ import annotations

import base64
from pathlib import Path

import fastapi
import httpx
import pytest
from proof_messenger.auditlog import AuditLog, AuditRecord, merkle, verify_receipt
from proof_messenger.auditlog.note import Verifier, open_checkpoint
from proof_messenger.relay.http.errors import install_handlers
from proof_messenger.relay.http.routes.audit import read_api


def record(i: int) -> AuditRecord:
    return AuditRecord(time_ms=1_764_331_200_000 + i, decision="accepted", reason=None, audience="bank")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_checkpoint_entries_and_proofs(tmp_path: Path) -> None:
    log = AuditLog.open(tmp_path / "log", origin="example.com/http", background=False)
    try:
        for i in range(21):
            log.append(record(i))
        old = log.latest
        for i in range(21, 30):
            log.append(record(i))
        app = fastapi.FastAPI()
        app.include_router(read_api(lambda: log))
        install_handlers(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            vkey = (await http.get("/audit/public-key")).text.strip()
            v = Verifier.from_vkey(vkey)
            cp = open_checkpoint((await http.get("/audit/checkpoint")).text, [v])
            assert cp.size == 30
            leaf = (await http.get("/audit/entries/7")).content
            proof = (await http.get("/audit/proof/inclusion", params={"index": 7})).json()
            hashes = [base64.b64decode(h) for h in proof["proof"]]
            merkle.verify_inclusion(merkle.leaf_hash(leaf), 7, cp.size, hashes, cp.root_hash)
            cons = (await http.get("/audit/proof/consistency", params={"old": old.size})).json()
            merkle.verify_consistency(
                old.size, cp.size, [base64.b64decode(h) for h in cons["proof"]], old.root, cp.root_hash
            )
            receipt = (await http.get("/audit/receipts/3")).json()
            assert verify_receipt(receipt, trusted=[v]).ok
            assert (await http.get("/audit/entries/30")).status_code == 404
            assert (
                await http.get("/audit/proof/inclusion", params={"index": 1, "size": 31})
            ).status_code == 404
            assert (
                await http.get("/audit/proof/consistency", params={"old": 9, "new": 5})
            ).status_code == 400
    finally:
        log.close()

"""Whoever holds the data directory rewrites the audit log: the accepted 50,000.00 transfer
becomes a rejection, an earlier entry is dropped, and the log is re-signed (with the log key
when it lies in the data directory, else with a key of the intruder's own). Which
configuration catches it, and with what (docs/AUDIT_LOG.md, "Who can rewrite the log"):

================  ==========================  ============================  ==========
configuration     audit verify, pinned key    the client's receipt          witness
================  ==========================  ============================  ==========
default           not caught (re-signed)      caught                        none
key outside       caught (bad signatures)     caught                        none
key in env        caught (bad signatures)     caught                        none
witness file      not caught (re-signed)      caught                        caught
================  ==========================  ============================  ==========

Before issue 13 the compact receipt (the default) carried no signature, so the client's
receipt caught nothing and the first row caught nothing at all: the test asserts that the
receipt now carries the checkpoint that does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import proof_messenger as pm
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from proof_messenger.auditlog import AuditLog
from proof_messenger.auditlog.log import KEY, META, read_meta
from proof_messenger.auditlog.store import ENTRIES, MARKER_PREFIX

from ..conftest import RelayProcess, sign, start_relay
from .conftest import enroll, new_client

AUDIT = [sys.executable, "-m", "proof_messenger.auditlog"]
CONFIGS = ("default", "key outside", "key in env", "witness file")


def _pem() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )


def _start(config: str, data: Path, outside: Path) -> RelayProcess:
    outside.mkdir(mode=0o700)
    if config == "key outside":
        key = outside / "log.key"
        key.write_text(_pem())
        key.chmod(0o600)
        return start_relay(data, "--audit-key-file", str(key))
    if config == "key in env":
        return start_relay(data, env={"PROOF_MESSENGER_AUDIT_LOG_KEY": _pem()})
    if config == "witness file":
        return start_relay(data, "--audit-witness-file", str(outside / "witness"))
    return start_relay(data)


def _submit(relay: RelayProcess) -> dict[str, Any]:
    """Three accepted proofs; the answer for the transfer (the second) is what its client keeps."""
    with httpx.Client(timeout=10) as http:
        client = new_client(relay, http)
        key = enroll(relay, http)
        answers = []
        for amount in ("10.00", "50000.00", "20.00"):
            r = http.post(
                f"{relay.url}/v1/proofs/verify",
                content=sign(key, context={"amount": amount}).to_json(),
                headers={"authorization": f"Bearer {client}", "content-type": "application/json"},
            )
            assert r.status_code == 200 and r.json()["valid"] is True, r.text
            answers.append(r.json())
        warnings = http.get(f"{relay.url}/readyz").json().get("warnings", [])
    transfer: dict[str, Any] = answers[1]
    transfer["_warnings"] = warnings
    return transfer


def _log_dir(data: Path) -> Path:
    logs = [p.parent for p in data.rglob(ENTRIES) if p.stat().st_size > 0]
    assert len(logs) == 1, logs
    return logs[0]


def rewrite(log_dir: Path) -> None:
    """The intruder's rewrite: entry 0 dropped, the transfer rejected, every later entry
    renumbered, the tree rebuilt and signed again under the log's own origin."""
    meta = read_meta(log_dir)
    lines = (log_dir / ENTRIES).read_bytes().split(b"\n")[:-1]
    entries = [json.loads(line) for line in lines if not line.startswith(MARKER_PREFIX)]
    transfer = next(e for e in entries if e["decision"] == "accepted" and e["index"] == 1)
    transfer.update(decision="rejected", reason="bad_signature")
    kept = entries[1:]
    stolen = log_dir / KEY
    key_pem = stolen.read_bytes() if stolen.exists() else _pem().encode()
    forged = log_dir.parent / "forged"

    def write(first: int, log_id: str) -> list[bytes]:
        assert log_id == meta["logId"]
        out = []
        for k, e in enumerate(kept):
            e = dict(e, index=first + k, receiptId=f"rcpt_{log_id}_{first + k}")
            out.append(pm.canonicalize(e))
        return out

    alog = AuditLog.open(forged, origin=meta["origin"], key_pem=key_pem, background=False)
    try:
        alog.append_entries(write)
        alog.checkpoint()
    finally:
        alog.close()
    for name in (ENTRIES, "index.bin", "tree.bin", "checkpoints", META, "log.pub"):
        shutil.copyfile(forged / name, log_dir / name)
    shutil.rmtree(forged)


def _audit(*args: str) -> int:
    run = subprocess.run([*AUDIT, *args], capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), run.stdout + run.stderr  # 2 would be a usage error, not a verdict
    return run.returncode


@pytest.mark.parametrize("config", CONFIGS)
def test_a_rewrite_by_the_data_directory_holder(tmp_path: Path, config: str) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    relay = _start(config, data, outside)
    try:
        answer = _submit(relay)
    finally:
        assert relay.stop() == 0
    warnings = answer.pop("_warnings")
    assert any("no audit witness" in w for w in warnings) == (config != "witness file"), warnings
    assert any("key is inside the data directory" in w for w in warnings) == (
        config in ("default", "witness file")
    ), warnings

    receipt = answer["receipt"]
    assert set(receipt) == {"receiptId", "origin", "index", "leafHash", "checkpoint"}, receipt
    assert receipt["index"] == 1 and receipt["checkpoint"].startswith(receipt["origin"] + "\n")
    saved = tmp_path / "answer.json"  # what the client keeps: the whole verify answer
    saved.write_text(json.dumps(answer))
    log_dir = _log_dir(data)
    pinned = (log_dir / "log.pub").read_text().strip()  # the auditor pinned the key at setup
    by_auditor = ["verify", str(data), "--public-key", pinned]
    by_receipt = [*by_auditor, "--checkpoint", str(saved)]
    receipt_check = ["receipt", str(saved), "--public-key", pinned, "--log-dir", str(log_dir)]
    by_witness = [*by_auditor, "--checkpoint", str(outside / "witness")]

    # Before the rewrite every check passes: a failure below is the rewrite's, not the setup's.
    assert _audit(*by_auditor) == 0
    assert _audit(*by_receipt) == 0
    assert _audit(*receipt_check) == 0
    if config == "witness file":
        assert _audit(*by_witness) == 0

    rewrite(log_dir)

    caught_by_auditor = _audit(*by_auditor) == 1
    assert caught_by_auditor == (config in ("key outside", "key in env")), config
    assert _audit(*by_receipt) == 1  # the receipt's signed root is not the rewritten log's
    assert _audit(*receipt_check) == 1  # the entry it pins is gone from its index
    if config == "witness file":
        assert _audit(*by_witness) == 1

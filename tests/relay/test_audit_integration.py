"""The Merkle audit log (docs/AUDIT_LOG.md) as the relay's audit sink: receipts in
verify responses that verify offline, rejected decisions logged, the read API behind
client auth, the auditor CLI on a relay data dir, and SIGKILL against the relay process."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import proof_messenger as pm
import pytest
from proof_messenger.auditlog import Verifier, verify_receipt
from proof_messenger.cli import main as pm_main

from .conftest import RelayHarness, audit_entries, sign, start_relay

pytestmark = pytest.mark.anyio


async def _vkey(h: RelayHarness, client: dict[str, str]) -> Verifier:
    r = await h.http.get("/audit/public-key", headers=client)
    assert r.status_code == 200, r.text
    return Verifier.from_vkey(r.text)


async def _alice_verified(h: RelayHarness) -> tuple[dict[str, str], pm.SigningKey, dict[str, Any]]:
    """A client, alice's enrolled key, and the verdict on one valid proof of hers."""
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    r = await h.verify(sign(key), client)
    assert r.status_code == 200, r.text
    return client, key, r.json()


async def test_compact_receipt_pins_the_full_one(h: RelayHarness) -> None:
    """The default receipt (id, origin, index, leaf hash, signed checkpoint) is answered only
    once the entry is durable; the full receipt fetched later hashes to the same leaf, and both
    verify offline (the compact one against the log directory)."""
    client, _, v = await _alice_verified(h)
    compact = v["receipt"]
    assert set(compact) == {"receiptId", "origin", "index", "leafHash", "checkpoint"}
    assert compact["receiptId"] == v["receiptId"] and compact["index"] == 0
    full = (await h.http.get(f"/audit/receipts/{compact['index']}", headers=client)).json()
    assert {k: full[k] for k in compact if k != "checkpoint"} == {
        k: compact[k] for k in compact if k != "checkpoint"
    }
    assert base64.b64decode(compact["leafHash"]) == hashlib.sha256(b"\x00" + full["entry"].encode()).digest()
    vkey = await _vkey(h, client)
    check = verify_receipt(full, trusted=[vkey])
    assert check.ok, check.message
    # the compact receipt's own checkpoint is signed and covers the entry: with the log
    # directory (entry and proof from there) it verifies, and without it, it says what is missing
    log_dir = next(p.parent for p in (h.relay.config.data_dir / "auditlog").rglob("entries.jsonl"))
    check = verify_receipt(compact, trusted=[vkey], log_dir=log_dir)
    assert check.ok and check.entry is not None and check.entry["receiptId"] == v["receiptId"], check.message
    check = verify_receipt(compact, trusted=[vkey])
    assert not check.ok and "--log-dir" in check.message
    forged = dict(compact, leafHash=base64.b64encode(bytes(32)).decode())
    check = verify_receipt(forged, trusted=[vkey], log_dir=log_dir)
    assert not check.ok and "not the entry this receipt pins" in check.message
    # the entry was on disk before the answer: the auditor finds it in a copy taken now
    assert audit_entries(h.relay.config.data_dir)[0]["receiptId"] == v["receiptId"]


async def test_verify_receipt_verifies_offline(make_harness: Any) -> None:
    async with make_harness(audit_receipt="full") as h:
        await _full_receipt_verifies_offline(h)


async def _full_receipt_verifies_offline(h: RelayHarness) -> None:
    client, key, v = await _alice_verified(h)
    receipt = v["receipt"]
    assert v["valid"] is True and receipt["receiptId"] == v["receiptId"]
    entry = json.loads(receipt["entry"])
    assert (entry["decision"], entry["client"], entry["subject"], entry["reason"]) == (
        "accepted",
        client["x-client-id"],
        "alice",
        None,
    )
    assert entry["keyId"] == key.verifying_key.key_id and entry["algorithm"] == "Ed25519"
    assert entry["audience"] == "payments-api" and len(entry["signedDigest"]) == 64
    assert "context" not in entry and "sealed" not in entry  # no encryption key: no context at all
    verifier = await _vkey(h, client)
    # the response carries the checkpoint; the proof comes from the log directory or the API
    log_dir = h.relay.audit.log.directory  # type: ignore[attr-defined]
    assert verify_receipt(receipt, trusted=[verifier], log_dir=log_dir).ok
    assert not verify_receipt(receipt, trusted=[verifier]).ok  # no proof, no log: not provable
    full = (await h.http.get(f"/audit/receipts/{receipt['index']}", headers=client)).json()
    check = verify_receipt(full, trusted=[verifier])
    assert check.ok, check.message
    # a tampered receipt fails
    forged = {**full, "entry": full["entry"].replace('"accepted"', '"rejected"')}
    assert not verify_receipt(forged, trusted=[verifier]).ok
    # the API's proof against the checkpoint handed out
    proof = (
        await h.http.get(
            "/audit/proof/inclusion", params={"index": receipt["index"], "size": 1}, headers=client
        )
    ).json()
    assert verify_receipt({**receipt, "inclusionProof": proof["proof"]}, trusted=[verifier]).ok


async def test_inclusion_proof_in_responses(make_harness: Any) -> None:
    async with make_harness(audit_receipt="full", audit_inclusion_proof=True) as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        r = await h.verify_batch([sign(key), sign(key), b"{}"], client)
        results = r.json()["results"]
        verifier = await _vkey(h, client)
        for res in results:
            check = verify_receipt(res["receipt"], trusted=[verifier])
            assert check.ok, check.message
        assert [res["receipt"]["index"] for res in results] == [0, 1, 2]


async def test_rejected_decisions_are_logged(make_harness: Any) -> None:
    async with make_harness(audit_receipt="full") as h:
        await _rejected_decisions_are_logged(h)


async def _rejected_decisions_are_logged(h: RelayHarness) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    stranger = pm.SigningKey.generate()
    good = sign(key)
    r = await h.verify_batch([good, good, sign(stranger), b'{"not": "a proof"}'], client)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["code"] for x in results][:3] == [None, "nonce_replayed", "untrusted_key"]
    assert all(x["receipt"]["checkpoint"] for x in results)
    r = await h.verify(sign(key, audience="elsewhere"), client)
    assert r.json()["valid"] is False
    entries = audit_entries(h.relay.config.data_dir)
    assert [(e["decision"], e["reason"]) for e in entries] == [
        ("accepted", None),
        ("rejected", "nonce_replayed"),
        ("rejected", "untrusted_key"),
        ("rejected", results[3]["code"]),
        ("rejected", r.json()["code"]),
    ]
    assert [e["receiptId"] for e in entries[:4]] == [x["receiptId"] for x in results]


async def test_audit_api_needs_client_auth_and_admin_checkpoint(h: RelayHarness) -> None:
    client = await h.new_client()
    for path in ("/audit/checkpoint", "/audit/public-key", "/audit/receipts/0"):
        assert (await h.http.get(path)).status_code == 401
        assert (await h.http.get(path, headers=h.admin)).status_code == 401  # admin is not a client
    assert (await h.http.get("/audit/checkpoint", headers=client)).text.splitlines()[1] == "0"
    key, _ = await h.enroll("alice")
    await h.verify(sign(key), client)
    assert (await h.http.post("/v1/admin/audit/checkpoint", headers=client)).status_code == 401
    r = await h.http.post("/v1/admin/audit/checkpoint", headers=h.admin)
    assert r.status_code == 200, r.text
    assert r.json()["size"] == 1 and r.json()["checkpoint"].splitlines()[1] == "1"
    notes = h.relay.audit.log.persisted_checkpoints()  # type: ignore[attr-defined]
    assert notes[-1] == r.json()["checkpoint"]
    r = await h.http.get("/audit/checkpoint", headers=client)
    assert r.text == notes[-1]
    assert (await h.http.get("/audit/entries/5", headers=client)).json()["error"]["code"] == "not_found"


def test_log_key_is_generated_0600_and_auditor_cli(tmp_path: Path, capsys: Any) -> None:
    from proof_messenger.relay.service import build_relay

    from .conftest import make_config

    data = tmp_path / "data"
    relay = build_relay(make_config(data), announce=None)
    try:
        client, _api_key = relay.clients.create("c", audience="payments-api", now_ms=pm.now_ms())
        key = pm.SigningKey.generate()
        relay.registry.enroll(
            "alice", key.verifying_key.to_bytes(), key_id=key.verifying_key.key_id, now_ms=0
        )
        from proof_messenger.relay.engine import Job

        job = Job([sign(key).to_json(), b"{}"], client=client)
        relay.engine.run([job])
        assert [d.receipt_id is not None for d in job.decisions] == [True, True]
    finally:
        relay.close()
    (log_dir,) = (data / "auditlog").iterdir()
    assert stat.S_IMODE((log_dir / "log.key").stat().st_mode) == 0o600
    assert pm_main(["audit", "verify", str(data)]) == 0
    # flip one byte inside the first entry's JSON
    path = log_dir / "entries.jsonl"
    raw = bytearray(path.read_bytes())
    pos = raw.index(b'"subject":"alice"') + len('"subject":"a')
    raw[pos] ^= 0x01
    path.write_bytes(bytes(raw))
    capsys.readouterr()
    assert pm_main(["audit", "verify", str(data)]) != 0


# --- SIGKILL against the relay process ------------------------------------------------------


def _setup(url: str, admin: dict[str, str], http: httpx.Client) -> tuple[dict[str, str], pm.SigningKey]:
    r = http.post(f"{url}/v1/admin/clients", json={"name": "bank", "audience": "payments-api"}, headers=admin)
    assert r.status_code == 201, r.text
    client = {"authorization": f"Bearer {r.json()['apiKey']}"}
    key = pm.SigningKey.generate()
    r = http.post(
        f"{url}/v1/admin/keys",
        json={"subject": "alice", "publicKey": key.verifying_key.to_base64()},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    return client, key


def test_sigkill_loop_every_answered_request_is_logged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    kills, threads_per_round, per_thread = 5, 4, 100  # bounded load: at most 400 requests a round
    rng = random.Random(7)
    answered: list[dict[str, Any]] = []
    interrupted: list[int] = []
    lock = threading.Lock()
    client: dict[str, str] | None = None
    key: pm.SigningKey | None = None
    for _ in range(kills):
        relay = start_relay(data, "--rate-limit-subject", "100000/minute", "--audit-receipt", "full")
        try:
            if client is None or key is None:
                with httpx.Client(timeout=10) as http:
                    client, key = _setup(relay.url, relay.admin, http)
            headers = {**client, "content-type": "application/json"}
            signer = key

            def load(
                url: str = relay.url, signer: pm.SigningKey = signer, headers: dict[str, str] = headers
            ) -> None:
                with httpx.Client(timeout=10) as http:
                    for n in range(per_thread):
                        body = sign(signer).to_json() if n % 4 else b'{"version": 1}'  # some rejected
                        try:
                            r = http.post(f"{url}/v1/proofs/verify", content=body, headers=headers)
                        except httpx.HTTPError:
                            interrupted.append(n)
                            return  # killed
                        if r.status_code == 200:
                            with lock:
                                answered.append(r.json())

            workers = [threading.Thread(target=load) for _ in range(threads_per_round)]
            for t in workers:
                t.start()
            before, deadline = len(answered), time.monotonic() + 10
            while len(answered) < before + 5 and time.monotonic() < deadline:
                time.sleep(0.005)  # the load is running: kill at a random moment inside it
            time.sleep(rng.uniform(0.0, 0.3))
            relay.proc.send_signal(signal.SIGKILL)
            relay.proc.wait(timeout=10)
            for t in workers:
                t.join(timeout=30)
        finally:
            relay.stop(signal.SIGKILL)
    # restart: recovery cuts uncommitted tails, signs a checkpoint; a clean stop persists it
    relay = start_relay(data)
    assert relay.stop() == 0
    assert answered, "no request was answered before the kills"
    assert interrupted, "no kill hit a request in flight"
    entries = audit_entries(data)  # the logs verify
    by_id = {e["receiptId"]: e for e in entries}
    for v in answered:
        receipt = v["receipt"]
        stored = by_id.get(v["receiptId"])
        assert stored is not None, f"answered receipt {v['receiptId']} is not in the log"
        assert stored["index"] == receipt["index"]
        assert json.loads(receipt["entry"]) == stored
        assert stored["decision"] == ("accepted" if v["valid"] else "rejected")
    # every answered receipt also verifies against its own checkpoint and the recovered log
    logs = {Verifier.from_vkey((d / "log.pub").read_text()).name: d for d in (data / "auditlog").iterdir()}
    verifiers = [Verifier.from_vkey((d / "log.pub").read_text()) for d in logs.values()]
    for v in answered[:: max(1, len(answered) // 50)]:
        r = v["receipt"]
        assert verify_receipt(r, trusted=verifiers, log_dir=logs[r["origin"]]).ok


async def test_failed_audit_commit_answers_503_not_a_verdict(h: RelayHarness) -> None:
    """The fsync runs in the verification worker: if it fails, no request of the group
    gets a verdict or a receipt (fail closed), and the caller sees 503, not 500."""
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    sink = h.relay.audit

    def broken_sync() -> None:
        raise OSError(5, "Input/output error")

    original, sink.sync = sink.sync, broken_sync  # type: ignore[method-assign]
    try:
        r = await h.verify(sign(key), client)
        b = await h.verify_batch([sign(key), sign(key)], client)
    finally:
        sink.sync = original  # type: ignore[method-assign]
    assert (r.status_code, r.json()["error"]["code"]) == (503, "service_unavailable")
    assert (b.status_code, b.json()["error"]["code"]) == (503, "service_unavailable")
    assert "receipt" not in r.text
    ok = await h.verify(sign(key), client)  # the next group commits again
    assert ok.status_code == 200 and ok.json()["valid"] is True


@pytest.mark.parametrize("receipt", ["compact", "full"])
async def test_the_verdict_context_is_canonical_json_with_either_receipt(
    make_harness: Any, receipt: str
) -> None:
    """The verdict's context is the exact canonical JSON whose digest was signed, members
    in code-point order, with compact and with full receipts alike (full receipts used to
    rebuild it in the proof's member order)."""
    async with make_harness(audit_receipt=receipt) as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        proof = sign(key, context={"zeta": [1.5, {"b": True, "a": None}], "memo": "Zahlung für Übung"})
        assert list(proof.context) != sorted(proof.context)  # signed out of code-point order
        r = await h.verify(proof, client)
        assert r.status_code == 200 and r.json()["valid"] is True
        raw = r.content
        start = raw.index(b'"context":') + len(b'"context":')
        end = raw.index(b',"contextDigest":')
        canonical = pm.canonicalize(proof.context)
        assert raw[start:end] == canonical
        assert (
            base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
            == (r.json()["contextDigest"])
        )
        assert ("entry" in r.json()["receipt"]) is (receipt == "full") and r.json()["receipt"]["checkpoint"]


async def test_verdicts_are_logged_and_refused_requests_are_not(h: RelayHarness) -> None:
    """The one rule (docs/AUDIT_LOG.md): every verdict becomes an entry, a refused request
    none. A proof that does not parse is a refused request on the single endpoint (400)
    and a rejected verdict as a batch line; both are counted, only the verdict logged."""
    client, _, _ = await _alice_verified(h)
    log = h.relay.audit.log  # type: ignore[attr-defined]
    before = log.size
    r = await h.http.post(
        "/v1/proofs/verify", content=b'{"version": 1', headers={**client, "content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    assert log.size == before
    r = await h.http.post(
        "/v1/proofs/verify-batch",
        content=b'{"version": 1',
        headers={**client, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200 and r.json()["results"][0]["code"] == "invalid_json"
    assert log.size == before + 1
    entry = json.loads(log.entry(before))
    assert (entry["decision"], entry["reason"], entry["client"]) == (
        "rejected",
        "invalid_json",
        client["x-client-id"],
    )
    metrics = (await h.http.get("/metrics")).text
    assert 'proof_messenger_rejected_requests_total{code="invalid_json"} 1.0' in metrics

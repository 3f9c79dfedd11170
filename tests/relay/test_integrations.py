"""proof_messenger.integrations: the FastAPI dependency, the plain decorator, the
embedded and relay verifiers, and the example service — all with the real core."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import proof_messenger as pm
import pytest
from proof_messenger.integrations import (
    PROOF_HEADER,
    EmbeddedVerifier,
    ProofRejected,
    RelayVerifier,
    encode_header,
    proof_required,
)
from proof_messenger.relay.http import create_app
from proof_messenger.relay.service import build_relay

from .conftest import REPO, make_config, start_relay

sys.path.insert(0, str(REPO / "examples"))
from transfer_service import AUDIENCE, create_service

pytestmark = pytest.mark.anyio


def _transfer(subject: str = "alice", amount: str = "2500.00") -> dict:
    return {
        "action": "wire_transfer",
        "amount": amount,
        "currency": "EUR",
        "to": "DE89370400440532013000",
        "subject": subject,
    }


def _request(key: pm.SigningKey, transfer: dict, **sign_kw) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(transfer).encode()
    proof = pm.sign(transfer, key, audience=sign_kw.pop("audience", AUDIENCE), **sign_kw)
    return body, {"content-type": "application/json", PROOF_HEADER: encode_header(proof.to_json())}


async def _exercise(service, key: pm.SigningKey) -> None:
    """The same assertions for every verifier: accept once, then refuse for the right reason."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="http://svc") as http:
        body, headers = _request(key, _transfer())
        r = await http.post("/api/execute-transfer", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["approvedBy"] == "alice" and r.json()["receiptId"].startswith("rcpt_")
        assert r.json()["transfer"]["amount"] == "2500.00"
        r = await http.post("/api/execute-transfer", content=body, headers=headers)
        assert r.status_code == 403 and r.json()["detail"]["code"] == "nonce_replayed"
        # a compromised proxy changes the amount: the proof no longer matches the body
        body, headers = _request(key, _transfer())
        tampered = body.replace(b"2500.00", b"99999.00")
        r = await http.post("/api/execute-transfer", content=tampered, headers=headers)
        assert r.status_code == 403 and r.json()["detail"]["code"] == "context_mismatch"
        # ... and the untouched request still goes through (the mismatch did not burn the nonce)
        assert (await http.post("/api/execute-transfer", content=body, headers=headers)).status_code == 200
        # the proxy rewrites body and the proof's context alike: the signature breaks
        body, headers = _request(key, _transfer())
        wire = json.loads(pm.Proof.from_json(_decode(headers[PROOF_HEADER])).to_json())
        wire["context"]["amount"] = "99999.00"
        forged = {**headers, PROOF_HEADER: encode_header(json.dumps(wire).encode())}
        r = await http.post(
            "/api/execute-transfer", content=body.replace(b"2500.00", b"99999.00"), headers=forged
        )
        assert r.status_code == 403 and r.json()["detail"]["code"] == "bad_signature"
        # no proof, a garbled header, a body that is not strict JSON, a stranger's key, another audience
        r = await http.post(
            "/api/execute-transfer", content=body, headers={"content-type": "application/json"}
        )
        assert r.status_code == 401 and r.json()["detail"]["code"] == "proof_required"
        r = await http.post("/api/execute-transfer", content=body, headers={PROOF_HEADER: "%%%"})
        assert r.status_code == 400
        dup = b'{"amount":"1.00","amount":"2.00"}'
        r = await http.post("/api/execute-transfer", content=dup, headers=headers)
        assert r.status_code == 400 and r.json()["detail"]["code"] == "invalid_body"
        body, headers = _request(pm.SigningKey.generate(), _transfer())
        r = await http.post("/api/execute-transfer", content=body, headers=headers)
        assert r.status_code == 403 and r.json()["detail"]["code"] == "untrusted_key"
        body, headers = _request(key, _transfer(), audience="other-api")
        r = await http.post("/api/execute-transfer", content=body, headers=headers)
        assert r.status_code == 403 and r.json()["detail"]["code"] == "audience_mismatch"
        executed = (await http.get("/api/executed")).json()["executed"]
        assert len(executed) == 2 and all(t["amount"] == "2500.00" for t in executed)


def _decode(header: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))


async def test_fastapi_dependency_with_embedded_verifier(tmp_path: Path) -> None:
    verifier = EmbeddedVerifier(make_config(tmp_path / "data"), audience=AUDIENCE)
    key = pm.SigningKey.generate()
    verifier.enroll("alice", key.verifying_key)
    try:
        await _exercise(create_service(verifier), key)
    finally:
        verifier.close()


async def test_fastapi_dependency_through_relay_in_process(tmp_path: Path) -> None:
    relay = build_relay(make_config(tmp_path / "data"), announce=None)
    app = create_app(relay=relay)
    _, api_key = relay.clients.create("svc", audience=AUDIENCE, now_ms=relay.clock())
    key = pm.SigningKey.generate()
    relay.registry.enroll("alice", key.verifying_key.to_bytes(), key_id=key.verifying_key.key_id, now_ms=0)
    verifier = RelayVerifier(
        "http://relay", api_key, audience=AUDIENCE, async_transport=httpx.ASGITransport(app=app)
    )
    try:
        await _exercise(create_service(verifier), key)
    finally:
        await verifier.aclose()
        relay.close()


def test_decorator_with_werkzeug(tmp_path: Path) -> None:
    """Another framework (plain Werkzeug WSGI): the decorator injects the verified proof."""
    from werkzeug.test import Client
    from werkzeug.wrappers import Request, Response

    verifier = EmbeddedVerifier(make_config(tmp_path / "data"), audience=AUDIENCE)
    key = pm.SigningKey.generate()
    verifier.enroll("alice", key.verifying_key)

    @proof_required(
        verifier,
        on_reject=lambda e: Response(
            json.dumps({"code": e.code}), status=e.status, mimetype="application/json"
        ),
    )
    def execute(request: Request, *, proof) -> Response:
        return Response(
            json.dumps({"approvedBy": proof.subject, "amount": proof.context["amount"]}),
            mimetype="application/json",
        )

    app = Request.application(execute)
    client = Client(app)
    body, headers = _request(key, _transfer())
    r = client.post("/api/execute-transfer", data=body, headers=headers)
    assert r.status_code == 200 and r.get_json() == {"approvedBy": "alice", "amount": "2500.00"}
    r = client.post("/api/execute-transfer", data=body, headers=headers)
    assert r.status_code == 403 and r.get_json()["code"] == "nonce_replayed"
    r = client.post("/api/execute-transfer", data=body)
    assert r.status_code == 401 and r.get_json()["code"] == "proof_required"

    @proof_required(verifier)
    def bare(request: Request, *, proof) -> Response:
        return Response("ran")

    with pytest.raises(ProofRejected) as info:
        Client(Request.application(bare)).post("/", data=body, headers=headers)  # replay: propagates
    assert info.value.code == "nonce_replayed"
    verifier.close()


async def test_async_decorator(tmp_path: Path) -> None:
    verifier = EmbeddedVerifier(make_config(tmp_path / "data"), audience=AUDIENCE)
    key = pm.SigningKey.generate()
    verifier.enroll("alice", key.verifying_key)

    class Req:  # a minimal framework request: headers + async body()
        def __init__(self, body: bytes, headers: dict[str, str]) -> None:
            self.headers, self._body = headers, body

        async def body(self) -> bytes:
            return self._body

    @proof_required(verifier)
    async def view(request: Req, *, proof) -> str:
        return proof.context["amount"]

    body, headers = _request(key, _transfer(amount="7.00"))
    assert await view(Req(body, headers)) == "7.00"
    verifier.close()


def test_relay_verifier_unavailable_and_retries(tmp_path: Path) -> None:
    # A port held by this test (bound, never listening: connections are refused), so no
    # other process can start listening on it meanwhile.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        verifier = RelayVerifier(
            f"http://127.0.0.1:{port}", "pmk_x", audience=AUDIENCE, timeout_s=0.5, retries=2, backoff_s=0.01
        )
        key = pm.SigningKey.generate()
        with pytest.raises(ProofRejected) as info:
            verifier.verify(pm.sign(_transfer(), key, audience=AUDIENCE).to_json())
        assert (info.value.code, info.value.status) == ("verifier_unavailable", 503)
        verifier.close()


def test_relay_verifier_against_real_relay(tmp_path: Path) -> None:
    relay = start_relay(tmp_path / "data")
    try:
        with httpx.Client(timeout=10) as http:
            api_key = http.post(
                f"{relay.url}/v1/admin/clients",
                json={"name": "svc", "audience": AUDIENCE},
                headers=relay.admin,
            ).json()["apiKey"]
            key = pm.SigningKey.generate()
            http.post(
                f"{relay.url}/v1/admin/keys",
                json={"subject": "alice", "publicKey": key.verifying_key.to_base64()},
                headers=relay.admin,
            ).raise_for_status()
        verifier = RelayVerifier(relay.url, api_key, audience=AUDIENCE)
        proof = pm.sign(_transfer(), key, audience=AUDIENCE).to_json()
        ok = verifier.verify(proof)
        assert ok.subject == "alice" and ok.receipt_id and ok.context["amount"] == "2500.00"
        with pytest.raises(ProofRejected) as info:
            verifier.verify(proof)
        assert info.value.code == "nonce_replayed"
        wrong = RelayVerifier(relay.url, "pmk_wrong", audience=AUDIENCE)
        with pytest.raises(ProofRejected) as info:  # a misconfigured service is a 503, not the user's fault
            wrong.verify(pm.sign(_transfer(), key, audience=AUDIENCE).to_json())
        assert info.value.status == 503
        verifier.close(), wrong.close()
    finally:
        relay.stop()


def test_example_service_and_client_end_to_end(tmp_path: Path) -> None:
    """examples/: a relay process, the sample service (uvicorn) and the sample client."""
    relay = start_relay(tmp_path / "data")
    service = None
    try:
        with httpx.Client(timeout=10) as http:
            api_key = http.post(
                f"{relay.url}/v1/admin/clients",
                json={"name": "transfer-service", "audience": AUDIENCE},
                headers=relay.admin,
            ).json()["apiKey"]
        env = {
            "TRANSFER_SERVICE_RELAY_URL": relay.url,
            "TRANSFER_SERVICE_API_KEY": api_key,
            "PATH": "/usr/bin:/bin",
        }
        log = tmp_path / "service.stderr"
        with log.open("wb") as err:
            service = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "transfer_service:app",
                    "--app-dir",
                    str(REPO / "examples"),
                    "--port",
                    "0",  # uvicorn binds a free port and logs it: no port race
                    "--log-level",
                    "info",
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        url = None
        deadline = time.monotonic() + 30  # generous: only catches a service that never starts
        while url is None:
            text = log.read_text(errors="replace")
            for line in text.splitlines():
                if "Uvicorn running on http://" in line:
                    url = line.split("Uvicorn running on ")[1].split()[0]
            if url is None:
                assert service.poll() is None, f"the example service exited:\n{text}"
                assert time.monotonic() < deadline, f"the example service did not start:\n{text}"
                time.sleep(0.05)
        assert httpx.get(f"{url}/api/executed", timeout=10).status_code == 200
        token = relay.admin["authorization"].split()[1]
        out = subprocess.run(
            [
                sys.executable,
                str(REPO / "examples" / "transfer_client.py"),
                "--service",
                url,
                "--relay",
                relay.url,
                "--admin-token",
                token,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        lines = out.splitlines()
        assert "-> 200" in lines[1] and '"status":"executed"' in lines[1]
        assert "-> 403" in lines[2] and "nonce_replayed" in lines[2]
        assert "-> 403" in lines[3] and "context_mismatch" in lines[3]
    finally:
        if service is not None:
            service.terminate()
            service.wait(timeout=10)
        relay.stop()


async def test_fastapi_dependency_cuts_off_a_chunked_upload_at_its_limit(tmp_path: Path) -> None:
    """Before: a chunked upload (no Content-Length) was buffered whole by ``request.body()``
    before the size check (a 300 MB body: 678 MB peak). Now the dependency stops reading at
    the first chunk over ``max_body_bytes`` (64 KiB by default)."""
    verifier = EmbeddedVerifier(make_config(tmp_path / "data"), audience=AUDIENCE)
    pulled = 0

    async def upload() -> AsyncIterator[bytes]:
        nonlocal pulled
        for _ in range(320):  # 20 MiB in 64 KiB chunks
            pulled += 1
            yield b"x" * 65536

    try:
        transport = httpx.ASGITransport(app=create_service(verifier))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            r = await http.post("/api/execute-transfer", content=upload())
        assert r.status_code == 413 and r.json()["detail"]["code"] == "input_too_large"
        assert pulled <= 3, pulled  # the limit's worth, not the 320 chunks sent
    finally:
        verifier.close()

"""WebAuthn proofs end to end: headless Chromium with a CDP virtual
authenticator (a platform passkey with user verification), the JS package's
``requestProof({credential})`` and a real relay served by uvicorn on loopback.

The page is the relay's own origin (``http://localhost:<port>``, a secure
context; the RP id is ``localhost``): the registration ceremony goes through
``navigator.credentials.create`` and the relay's ``/v1/webauthn/registrations``,
the approval through ``navigator.credentials.get`` and ``/v1/proofs/verify``.

Needs /usr/bin/chromium, the ``playwright`` PyPI package (never
``playwright install``) and the WASM build (run here).
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AUDIENCE = "payments-api"
TRANSFER = {
    "action": "wire_transfer",
    "amount": "50000.00",
    "currency": "EUR",
    "subject": "alice",
    "to": "ACME-CORP-ACCOUNT-123",
}

# In the page: base64url <-> bytes, create() and requestProof() with the package.
REGISTER_JS = """async (options) => {
  const d = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const e = (b) => btoa(String.fromCharCode(...new Uint8Array(b)))
    .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const pk = structuredClone(options.publicKey);
  pk.challenge = d(pk.challenge);
  pk.user.id = d(pk.user.id);
  pk.excludeCredentials = pk.excludeCredentials.map((c) => ({ ...c, id: d(c.id) }));
  const cred = await navigator.credentials.create({ publicKey: pk });
  return {
    id: cred.id,
    attestationObject: e(cred.response.attestationObject),
    clientDataJSON: e(cred.response.clientDataJSON),
    transports: cred.response.getTransports ? cred.response.getTransports() : [],
  };
}"""
SIGN_JS = """async ({ context, credential, audience, nonce }) => {
  const pm = await import("/demo/pkg/index.js");
  await pm.init(fetch("/demo/pkg/dist/proof_messenger_wasm_bg.wasm"));
  const challenge = pm.webauthnChallenge({ context, audience, timestamp: Date.now(), nonce });
  const proof = await pm.requestProof({ context, credential, audience, nonce });
  return { proof, challengeLength: challenge.length };
}"""


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """A relay with demo (serves the WASM package) and WebAuthn for rp id localhost, in a thread."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    build = subprocess.run([str(ROOT / "wasm" / "build.sh")], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"wasm/build.sh failed (exit {build.returncode}):\n{build.stderr[-4000:]}")
    import uvicorn
    from proof_messenger.relay import load_config
    from proof_messenger.relay.http import create_app

    # Bound here (port 0) and handed to uvicorn: the port is never free for another process to take.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    cfg = load_config(
        env={},
        flags={
            "data_dir": str(tmp_path_factory.mktemp("relay")),
            "port": port,
            "decision_log": "",
            "demo": True,
            "wasm_dir": str(ROOT / "wasm"),
            "webauthn_rp_id": "localhost",
            "webauthn_origins": f"http://localhost:{port}",
        },
    )
    app = create_app(cfg)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the relay did not start")
        time.sleep(0.05)
    try:
        yield f"http://localhost:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture()
def page(tmp_path: Path, relay: tuple[str, Any]) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright PyPI package is required (never run `playwright install`)")
    url, _ = relay
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        try:
            pg = context.new_page()
            pg.goto(url + "/healthz")
            cdp = context.new_cdp_session(pg)
            cdp.send("WebAuthn.enable")
            authenticator = cdp.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "internal",
                        "hasResidentKey": True,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                    }
                },
            )
            pg.cdp = cdp
            pg.authenticator_id = authenticator["authenticatorId"]
            yield pg
        finally:
            context.close()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_passkey_approval_end_to_end(relay: tuple[str, Any], page: Any) -> None:
    url, app = relay
    admin = {"authorization": f"Bearer {app.relay.admin_token}"}
    with httpx.Client(base_url=url, timeout=30) as http:
        # -- enrol: the relay's registration ceremony with navigator.credentials.create
        r = http.post("/v1/webauthn/registrations/challenge", json={"subject": "alice"}, headers=admin)
        assert r.status_code == 201, r.text
        created = page.evaluate(REGISTER_JS, r.json())
        r = http.post(
            "/v1/webauthn/registrations",
            json={
                "challenge": r.json()["challenge"],
                "attestationObject": created["attestationObject"],
                "clientDataJSON": created["clientDataJSON"],
                "transports": created["transports"],
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
        record = r.json()
        assert record["subject"] == "alice" and record["credentialId"] == created["id"]
        assert record["algorithm"] == -7 and record["userVerified"] is True

        r = http.post("/v1/admin/clients", json={"name": "bank", "audience": AUDIENCE}, headers=admin)
        client = {"authorization": f"Bearer {r.json()['apiKey']}"}

        def approve() -> dict[str, Any]:
            nonce = http.post("/v1/challenges", json={"subject": "alice"}, headers=client).json()["nonce"]
            out = page.evaluate(
                SIGN_JS,
                {
                    "context": TRANSFER,
                    "credential": {"id": created["id"], "transports": created["transports"]},
                    "audience": AUDIENCE,
                    "nonce": nonce,
                },
            )
            assert out["challengeLength"] == 43
            return dict(out["proof"])

        def verify(proof: dict[str, Any]) -> dict[str, Any]:
            r = http.post(
                "/v1/proofs/verify",
                content=json.dumps(proof).encode(),
                headers={**client, "content-type": "application/json"},
            )
            assert r.status_code == 200, r.text
            return dict(r.json())

        # -- approve a wire transfer: valid
        proof = approve()
        assert proof["algorithm"] == "WebAuthn" and "publicKey" not in proof
        v = verify(proof)
        assert (v["valid"], v["code"], v["subject"], v["keyId"]) == (True, None, "alice", created["id"]), v
        assert v["context"] == TRANSFER
        first_count = int.from_bytes(b64url_decode(proof["authenticatorData"])[33:37], "big")
        assert app.relay.credentials.get(b64url_decode(created["id"])).sign_count == first_count

        # -- the context altered in transit: the client data challenge no longer matches
        altered = {**proof, "context": {**proof["context"], "amount": "99999.00"}}
        v = verify(altered)
        assert (v["valid"], v["code"]) == (False, "challenge_mismatch"), v

        # -- the same assertion replayed: its counter is not above the stored one
        v = verify(proof)
        assert (v["valid"], v["code"]) == (False, "counter_not_increasing"), v

        # -- a new assertion over an already accepted nonce: nonce_replayed
        again = approve()
        reused = page.evaluate(
            SIGN_JS,
            {
                "context": TRANSFER,
                "credential": created["id"],
                "audience": AUDIENCE,
                "nonce": again["nonce"],
            },
        )["proof"]
        assert verify(again)["valid"] is True
        v = verify(reused)
        assert (v["valid"], v["code"]) == (False, "nonce_replayed"), v

        # -- a counter going backwards (a cloned authenticator): counter_not_increasing
        credential = page.cdp.send("WebAuthn.getCredentials", {"authenticatorId": page.authenticator_id})[
            "credentials"
        ][0]
        page.cdp.send(
            "WebAuthn.removeCredential",
            {"authenticatorId": page.authenticator_id, "credentialId": credential["credentialId"]},
        )
        page.cdp.send(
            "WebAuthn.addCredential",
            {"authenticatorId": page.authenticator_id, "credential": {**credential, "signCount": 1}},
        )
        v = verify(approve())
        assert (v["valid"], v["code"]) == (False, "counter_not_increasing"), v


def _status(page: Any, *wanted: str) -> str:
    selector = ", ".join(f"body[data-status={s}]" for s in (*wanted, "error"))
    page.wait_for_selector(selector, timeout=30_000)
    status = str(page.evaluate("document.body.dataset.status"))
    assert status != "error" or "error" in wanted, page.text_content("#error")
    return status


def test_demo_page_signs_with_a_passkey(relay: tuple[str, Any], page: Any) -> None:
    url, app = relay
    page.goto(url + "/demo/")
    _status(page, "ready")
    page.click("#use-passkey")
    page.wait_for_selector("#key-status:has-text('passkey')", timeout=30_000)
    subject = page.text_content("#subject")
    assert subject.startswith("demo:")
    records = app.relay.credentials.list_credentials(subject=subject)
    assert len(records) == 1 and page.text_content("#key-id") == records[0].to_json()["keyId"]

    page.fill("#amount", "1234.56")
    page.click("#review")
    _status(page, "review")
    page.click("#approve")
    assert _status(page, "accepted", "rejected") == "accepted", page.text_content("#raw")
    assert page.evaluate("window.pmLastResult")["receiptId"].startswith("rcpt_")

    # the compromised proxy raises the amount in transit: the client data challenge no longer matches
    page.click("#review")
    _status(page, "review")
    page.check("#compromised")
    page.click("#approve")
    assert _status(page, "accepted", "rejected") == "rejected"
    assert page.evaluate("window.pmLastResult")["code"] == "challenge_mismatch"

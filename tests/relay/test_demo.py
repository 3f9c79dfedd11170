"""The --demo wire-transfer page: server side in process, and end to end in headless Chromium.

The browser test needs /usr/bin/chromium (Debian's ``chromium``), the
``playwright`` PyPI package driving it, and the WASM build (wasm/dist). Nothing
is skipped: a missing piece fails and says which.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import proof_messenger as pm
import pytest
from proof_messenger.relay.http.routes.demo import CSP, find_wasm_dir

from .conftest import REPO, RelayHarness, audit_entries, demo_transfer, start_relay

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def demo(make_harness) -> Any:
    async with make_harness(demo=True) as h:
        yield h


@pytest.mark.anyio
async def test_demo_server_side(demo: RelayHarness) -> None:
    h = demo
    page = await h.http.get("/demo/")
    assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
    assert "{{" not in page.text and "unsafe-inline" not in page.headers["content-security-policy"]
    assert (await h.http.get("/demo/pkg/package.json")).status_code == 404  # only the module's files
    assert (await h.http.get("/demo/pkg/../../data/admin.token")).status_code == 404
    wasm = await h.http.get("/demo/pkg/dist/proof_messenger_wasm_bg.wasm")
    assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
    assert "/demo/" not in json.dumps((await h.http.get("/openapi.json")).json()["paths"])

    key = pm.SigningKey.generate()
    r = await h.http.post("/demo/api/enroll", json={"publicKey": key.verifying_key.to_base64()})
    assert r.status_code == 201 and r.json()["subject"].startswith("demo:")
    subject = r.json()["subject"]
    assert (await h.http.post("/demo/api/enroll", json={"publicKey": "AAAA"})).status_code == 400
    assert (await h.http.post("/demo/api/enroll", json={"subject": "alice"})).status_code == 400

    async def send(compromised: bool) -> dict:
        ch = await h.http.post("/demo/api/challenge", json={"subject": subject})
        assert ch.status_code == 201, ch.text
        context, headers = demo_transfer(key, subject, ch.json()["nonce"], compromised=compromised)
        r = await h.http.post("/demo/api/transfer", json=context, headers=headers)
        assert r.status_code == 200
        return r.json()

    ok = await send(False)
    assert ok["backend"]["status"] == 200 and ok["backend"]["body"]["receiptId"].startswith("rcpt_")
    bad = await send(True)
    assert bad["proxy"] == {"compromised": True, "sentAmount": "2500.00", "forwardedAmount": "99999.00"}
    assert bad["backend"]["status"] == 403 and bad["backend"]["body"]["detail"]["code"] == "bad_signature"


@pytest.mark.anyio
async def test_demo_is_off_by_default(h: RelayHarness) -> None:
    assert (await h.http.get("/demo/")).status_code == 404
    assert (await h.http.post("/demo/api/enroll", json={"publicKey": "x"})).status_code == 404


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is required (apt-get install chromium)"
    assert find_wasm_dir(None) is not None, "the WASM package is not built (wasm/build.sh)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        try:
            page = context.new_page()
            page.seen = []  # type: ignore[attr-defined]
            page.on("console", lambda m: page.seen.append(m.text))  # type: ignore[attr-defined]
            page.on("pageerror", lambda e: page.seen.append(f"pageerror: {e}"))  # type: ignore[attr-defined]
            yield page
        finally:
            context.close()


def _status(page: Any, *wanted: str) -> str:
    selector = ", ".join(f"body[data-status={w}]" for w in (*wanted, "error"))
    page.wait_for_selector(selector, timeout=30_000)
    status = page.evaluate("document.body.dataset.status")
    assert status != "error", (page.text_content("#error"), page.seen)
    return str(status)


def test_demo_end_to_end_in_chromium(tmp_path: Path, browser: Any) -> None:
    relay = start_relay(tmp_path / "data", "--demo", "--wasm-dir", str(REPO / "wasm"))
    try:
        page = browser
        violations: list[str] = []
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None
        )
        page.goto(f"{relay.url}/demo/")
        _status(page, "ready")
        subject = page.text_content("#subject")
        assert subject.startswith("demo:")
        with httpx.Client() as http:
            keys = http.get(
                f"{relay.url}/v1/admin/keys", params={"subject": subject}, headers=relay.admin
            ).json()["keys"]
        assert len(keys) == 1 and keys[0]["keyId"] == page.text_content("#key-id")

        # review: the page shows the canonical context and the same fingerprint Python computes
        page.fill("#amount", "1234.56")
        page.click("#review")
        _status(page, "review")
        context = {
            "action": "wire_transfer",
            "amount": "1234.56",
            "currency": "EUR",
            "to": "DE89370400440532013000",
            "subject": subject,
        }
        assert page.text_content("#context") == pm.canonicalize(context).decode()
        assert page.text_content("#fingerprint") == pm.fingerprint(context)

        page.click("#approve")
        assert _status(page, "accepted", "rejected") == "accepted", page.text_content("#raw")
        result = page.evaluate("window.pmLastResult")
        assert result["ok"] and result["receiptId"].startswith("rcpt_")
        entries = audit_entries(tmp_path / "data")
        assert any(e["receiptId"] == result["receiptId"] and e["decision"] == "accepted" for e in entries)
        assert page.text_content("#receipt") == result["receiptId"]

        # the compromised proxy raises the amount in transit: the relay says bad_signature
        page.click("#review")
        _status(page, "review")
        page.check("#compromised")
        page.click("#approve")
        assert _status(page, "accepted", "rejected") == "rejected"
        result = page.evaluate("window.pmLastResult")
        assert result["code"] == "bad_signature"
        assert (
            page.text_content("#forwarded-amount") == "99999.00"
            and page.text_content("#sent-amount") == "1234.56"
        )
        assert "bad_signature" in page.text_content("#verdict")

        # a reload keeps the device key (IndexedDB) and its enrolment: no second key
        page.reload()
        _status(page, "ready")
        assert page.text_content("#subject") == subject
        with httpx.Client() as http:
            keys = http.get(
                f"{relay.url}/v1/admin/keys", params={"subject": subject}, headers=relay.admin
            ).json()["keys"]
        assert len(keys) == 1
        assert violations == [], violations
        # the key never left WebCrypto: it cannot be exported
        exportable = page.evaluate(
            """async () => {
                const pair = await new Promise((ok, err) => {
                  const o = indexedDB.open("proof-messenger-relay-demo", 1);
                  o.onsuccess = () => {
                    const r = o.result.transaction("keys").objectStore("keys").get("device-key");
                    r.onsuccess = () => ok(r.result); r.onerror = err;
                  };
                });
                try { await crypto.subtle.exportKey("pkcs8", pair.privateKey); return true; }
                catch { return false; }
            }"""
        )
        assert exportable is False
    finally:
        relay.stop()

"""The WASM package in a real headless Chromium, under a strict CSP with SRI.

A page served on 127.0.0.1 (``script-src 'self' 'wasm-unsafe-eval'``, no
``'unsafe-inline'``) loads the package, generates a non-extractable WebCrypto
Ed25519 key kept in IndexedDB, signs a frozen context, and the Python package
verifies the proof; once the context changes, the proof is ``bad_signature``.
Two negative checks show that the CSP and SRI are really enforced.

Needs /usr/bin/chromium (Debian's ``chromium``), the ``playwright`` PyPI
package (driving that binary; never ``playwright install``) and the WASM
build (``wasm/build.sh``, run here). Nothing is skipped: a missing piece fails
with a message that says which.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import proof_messenger as pm
import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).resolve().parent / "page"
PKG = ROOT / "wasm"
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
STRICT_CSP = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; "
    "style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
NO_WASM_CSP = STRICT_CSP.replace(" 'wasm-unsafe-eval'", "")

# URL path -> file of the package the page may load (nothing else is served).
PACKAGE_FILES = {
    "/pkg/index.js": PKG / "index.js",
    "/pkg/convert.js": PKG / "convert.js",
    "/pkg/errors.js": PKG / "errors.js",
    "/pkg/dist/proof_messenger_wasm_bg.js": PKG / "dist" / "proof_messenger_wasm_bg.js",
    "/pkg/dist/proof_messenger_wasm_bg.wasm": PKG / "dist" / "proof_messenger_wasm_bg.wasm",
    "/app.js": PAGE / "app.js",
}


def sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


class Site:
    """What the server serves; the tests switch the CSP and can corrupt the .wasm."""

    def __init__(self) -> None:
        self.csp = STRICT_CSP
        self.tamper_wasm = False

    def index(self) -> bytes:
        html = (PAGE / "index.html").read_text(encoding="utf-8")
        for name, path in {
            "WASM": PACKAGE_FILES["/pkg/dist/proof_messenger_wasm_bg.wasm"],
            "INDEX": PACKAGE_FILES["/pkg/index.js"],
            "CONVERT": PACKAGE_FILES["/pkg/convert.js"],
            "ERRORS": PACKAGE_FILES["/pkg/errors.js"],
            "BG": PACKAGE_FILES["/pkg/dist/proof_messenger_wasm_bg.js"],
            "APP": PACKAGE_FILES["/app.js"],
        }.items():
            html = html.replace("{{" + name + "_INTEGRITY}}", sri(path))
        return html.encode()


def make_handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/":
                body, ctype = site.index(), "text/html; charset=utf-8"
            elif path in PACKAGE_FILES:
                body = PACKAGE_FILES[path].read_bytes()
                if path.endswith(".wasm"):
                    ctype = "application/wasm"
                    if site.tamper_wasm:
                        middle = len(body) // 2
                        body = body[:middle] + bytes([body[middle] ^ 1]) + body[middle + 1 :]
                else:
                    ctype = "text/javascript; charset=utf-8"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", site.csp)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Site, str]]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/setup.sh installs it)")
    if shutil.which("node") is None:
        pytest.fail("node (>= 20) is required to build the WASM package")
    build = subprocess.run([str(PKG / "build.sh")], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"wasm/build.sh failed (exit {build.returncode}):\n{build.stderr[-4000:]}")
    state = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Browser:
    """A page of a fresh headless Chromium profile, and the console messages it logged."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(message.text))

    def load(self, url: str) -> str:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-status=done], body[data-status=error]", timeout=30_000)
        return str(self.page.evaluate("document.body.dataset.status"))

    def evaluate(self, expression: str) -> Any:
        return self.page.evaluate(expression)


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright PyPI package is required (never run `playwright install`)")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        try:
            yield Browser(context.new_page())
        finally:
            context.close()


def test_browser_proof_verifies_in_python(site: tuple[Site, str], browser: Browser) -> None:
    state, url = site
    state.csp, state.tamper_wasm = STRICT_CSP, False
    status = browser.load(url)
    assert status == "done", (browser.evaluate("window.pmError"), browser.console)
    result = browser.evaluate("window.pmResult")

    # The CSP held: no inline script ran, and nothing the page needs was blocked.
    assert browser.evaluate("window.inlineScriptRan === undefined")
    assert result["violations"] == []
    assert result["privateKeyExtractable"] is False
    assert result["selfCheck"] is True
    assert result["changedContextCode"] == "bad_signature"

    proof = json.loads(result["proof"])
    key = pm.VerifyingKey.from_base64(result["publicKey"])
    verdict = pm.verify(result["proof"], trusted_keys=key, audience="payments-api", now_ms=proof["timestamp"])
    assert verdict.valid, (verdict.code, verdict.detail)
    assert verdict.context == proof["context"]
    assert pm.fingerprint(proof["context"]) == result["fingerprint"]
    assert browser.page.inner_text("#fingerprint") == result["fingerprint"]

    # Changing the context after signing breaks the proof, in Python as in the browser.
    changed = dict(proof, context={**proof["context"], "amount": "50001.00"})
    rejected = pm.verify(
        json.dumps(changed), trusted_keys=key, audience="payments-api", now_ms=changed["timestamp"]
    )
    assert rejected.code == "bad_signature"


def test_csp_without_wasm_unsafe_eval_blocks_webassembly(site: tuple[Site, str], browser: Browser) -> None:
    state, url = site
    state.csp, state.tamper_wasm = NO_WASM_CSP, False
    try:
        assert browser.load(url) == "error"
    finally:
        state.csp = STRICT_CSP
    error = browser.evaluate("window.pmError")
    assert "CompileError" in error or "WebAssembly" in error, error


def test_sri_rejects_a_modified_wasm(site: tuple[Site, str], browser: Browser) -> None:
    state, url = site
    state.csp, state.tamper_wasm = STRICT_CSP, True
    try:
        assert browser.load(url) == "error"
    finally:
        state.tamper_wasm = False
    error = browser.evaluate("window.pmError")
    assert error.startswith("TypeError"), error  # fetch() rejects on an integrity mismatch
    assert any("integrity" in m.lower() for m in browser.console), browser.console

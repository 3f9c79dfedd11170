"""The wire-transfer demo, served with ``--demo`` at ``/demo/``.

Three parties, all in this process, talking HTTP to each other as they would
in production:

- the **page** (``demo_static/``): shows the transfer, its canonical context
  and fingerprint (the WASM module), signs it with a non-extractable WebCrypto
  Ed25519 key kept in IndexedDB (enrolled on first visit);
- a **sample backend** (a FastAPI app with ``require_proof``): asks the relay
  for a challenge, and executes the transfer only with a valid proof for the
  exact request, verified *through the relay's HTTP API* with its own API key;
- a **proxy** between page and backend which, with the "compromised proxy"
  switch, rewrites the amount in transit (in the body and in the proof): the
  relay answers ``bad_signature`` and the transfer does not run.

Demo-only: ``POST /demo/api/enroll`` enrols a browser key for a fresh
``demo:<random>`` subject without an admin token (rate limited per address).
Never enable ``--demo`` on a relay that holds real keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp

from proof_messenger.integrations import (
    PROOF_HEADER,
    RelayVerifier,
    VerifiedProof,
    encode_header,
    proof_from_header,
)
from proof_messenger.integrations.fastapi import require_proof

from ... import errors
from ...errors import Refused
from .. import schemas
from ..bodies import parse_model, read_body
from ..encoding import json_response
from .keys import parse_public_key
from .webauthn import Ceremony

if TYPE_CHECKING:
    from ...service import Relay

log = logging.getLogger("proof_messenger.relay.demo")
STATIC = Path(__file__).resolve().parents[1] / "demo_static"
CSP = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# URL under /demo/pkg/ -> file of the WASM package (nothing else of that directory is served)
WASM_FILES = {
    "index.js": "index.js",
    "convert.js": "convert.js",
    "errors.js": "errors.js",
    "dist/proof_messenger_wasm_bg.js": "dist/proof_messenger_wasm_bg.js",
    "dist/proof_messenger_wasm_bg.wasm": "dist/proof_messenger_wasm_bg.wasm",
}
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
    ".css": "text/css; charset=utf-8",
}
TAMPERED_AMOUNT = "99999.00"


def find_wasm_dir(configured: Path | None) -> Path | None:
    candidates = (
        [configured] if configured else [Path(__file__).resolve().parents[5] / "wasm", Path.cwd() / "wasm"]
    )
    for c in candidates:
        if (
            c is not None
            and (c / "dist" / "proof_messenger_wasm_bg.wasm").is_file()
            and (c / "index.js").is_file()
        ):
            return c
    return None


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "Cross-Origin-Opener-Policy": "same-origin",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
    }


def sample_backend(relay_app: ASGIApp, api_key: str, audience: str) -> FastAPI:
    """The service a bank would run: it knows nothing of keys, only its relay API key."""
    transport = httpx.ASGITransport(app=relay_app)
    verifier = RelayVerifier("http://relay", api_key, audience=audience, async_transport=transport)
    relay_http = httpx.AsyncClient(
        transport=transport, base_url="http://relay", headers={"authorization": f"Bearer {api_key}"}
    )
    backend = FastAPI(openapi_url=None)

    @backend.post("/challenge")
    async def challenge(request: Request) -> Response:
        r = await relay_http.post("/v1/challenges", json=await request.json())
        return Response(r.content, status_code=r.status_code, media_type="application/json")

    verified = Depends(require_proof(verifier))

    @backend.post("/execute-transfer")
    async def execute_transfer(proof: VerifiedProof = verified) -> dict[str, Any]:
        t = proof.context
        return {
            "status": "executed",
            "transfer": {k: t.get(k) for k in ("amount", "currency", "to")},
            "approvedBy": proof.subject,
            "keyId": proof.key_id,
            "receiptId": proof.receipt_id,
        }

    return backend


def router(relay: Relay, root: Callable[[], ASGIApp]) -> APIRouter:
    """The demo's routes; ``root()`` is the whole relay app, which the sample backend
    calls over (in-process) HTTP as a bank's service would."""
    cfg = relay.config
    wasm_dir = find_wasm_dir(cfg.wasm_dir)
    if wasm_dir is None:
        log.warning(
            "demo: the WASM package is not built (run wasm/build.sh or set --wasm-dir); the page cannot sign"
        )
    _, api_key = relay.clients.create("demo-backend", audience=cfg.demo_audience, now_ms=relay.clock())
    backend: list[httpx.AsyncClient] = []

    def backend_http() -> httpx.AsyncClient:
        if not backend:  # the relay app exists once the routes serve
            app = sample_backend(root(), api_key, cfg.demo_audience)
            backend.append(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://backend")
            )
        return backend[0]

    api = APIRouter(prefix="/demo", include_in_schema=False)

    def asset(path: Path, media: str | None = None) -> Response:
        try:
            data = path.read_bytes()
        except OSError:
            raise Refused(errors.NOT_FOUND, "not built") from None
        return Response(
            data,
            media_type=media or _TYPES.get(path.suffix, "application/octet-stream"),
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    @api.get("/")
    async def page() -> Response:
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        files = {"APP": STATIC / "app.js", "CSS": STATIC / "demo.css"}
        if wasm_dir is not None:
            files |= {
                "INDEX": wasm_dir / "index.js",
                "CONVERT": wasm_dir / "convert.js",
                "ERRORS": wasm_dir / "errors.js",
                "BG": wasm_dir / "dist/proof_messenger_wasm_bg.js",
                "WASM": wasm_dir / "dist/proof_messenger_wasm_bg.wasm",
            }
        for name, path in files.items():
            html = html.replace("{{" + name + "_INTEGRITY}}", _sri(path.read_bytes()))
        html = html.replace("{{AUDIENCE}}", cfg.demo_audience).replace(
            "{{WASM_READY}}", "yes" if wasm_dir else "no"
        )
        return Response(html, media_type="text/html; charset=utf-8", headers=_page_headers())

    @api.get("/app.js")
    async def app_js() -> Response:
        return asset(STATIC / "app.js")

    @api.get("/demo.css")
    async def css() -> Response:
        return asset(STATIC / "demo.css")

    @api.get("/pkg/{path:path}")
    async def wasm_file(path: str) -> Response:
        if wasm_dir is None or path not in WASM_FILES:
            raise Refused(errors.NOT_FOUND, "no such file")
        return asset(wasm_dir / WASM_FILES[path])

    @api.post("/api/enroll")
    async def enroll(request: Request) -> Response:
        """Demo only: enrol this browser's key for a new demo subject."""
        ip = request.client.host if request.client else "?"
        if not relay.limiter.hit_subject(f"demo-enroll:{ip}").allowed:
            raise Refused(errors.RATE_LIMITED, "too many enrolments from this address", retry_after_s=60)
        body = await read_body(
            request, limit=4096, media_types=("application/json",), timeout_s=cfg.body_timeout_s
        )
        try:
            public_key = json.loads(body)["publicKey"]
            assert isinstance(public_key, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise Refused(errors.INVALID_REQUEST, 'expected {"publicKey": "<base64>"}') from None
        vk = parse_public_key(public_key)
        subject = "demo:" + secrets.token_hex(8)
        rec = relay.registry.enroll(
            subject, vk.to_bytes(), key_id=vk.key_id, label="demo browser key", now_ms=relay.clock()
        )
        return json_response({"subject": subject, "keyId": rec.key_id, "enrollmentId": rec.id}, 201)

    @api.post("/api/challenge")
    async def challenge(request: Request) -> Response:
        body = await read_body(
            request, limit=4096, media_types=("application/json",), timeout_s=cfg.body_timeout_s
        )
        try:
            json.loads(body)
        except ValueError:
            raise Refused(errors.INVALID_REQUEST, "expected a JSON body") from None
        r = await backend_http().post(
            "/challenge", content=body, headers={"content-type": "application/json"}
        )
        return Response(r.content, status_code=r.status_code, media_type="application/json")

    @api.post("/api/transfer")
    async def transfer(request: Request) -> Response:
        """The proxy between page and backend; compromised, it raises the amount in transit."""
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=("application/json",), timeout_s=cfg.body_timeout_s
        )
        header = request.headers.get(PROOF_HEADER)
        compromised = request.headers.get("x-demo-compromised-proxy") == "1"
        sent_amount = _amount(body)
        if compromised and header:
            body, header = _tamper(body, header)
        forward = {"content-type": "application/json"} | ({PROOF_HEADER: header} if header else {})
        r = await backend_http().post("/execute-transfer", content=body, headers=forward)
        try:
            answer = r.json()
        except ValueError:
            answer = {"raw": r.text}
        return json_response(
            {
                "proxy": {
                    "compromised": compromised,
                    "sentAmount": sent_amount,
                    "forwardedAmount": _amount(body),
                },
                "backend": {"status": r.status_code, "body": answer},
            }
        )

    ceremony = Ceremony(relay)

    @api.post("/api/webauthn/challenge")
    async def webauthn_challenge(request: Request) -> Response:
        """Demo only: a registration for a new demo subject, without the admin token."""
        ip = request.client.host if request.client else "?"
        if not relay.limiter.hit_subject(f"demo-enroll:{ip}").allowed:
            raise Refused(errors.RATE_LIMITED, "too many enrolments from this address", retry_after_s=60)
        body = await read_body(request, limit=4096, media_types=(schemas.JSON,), timeout_s=cfg.body_timeout_s)
        req = parse_model(body or b"{}", schemas.DemoRegistrationChallengeRequest)
        subject = "demo:" + secrets.token_hex(8)
        return json_response(ceremony.options(subject, req.userName or subject, None), 201)

    @api.post("/api/webauthn/register")
    async def webauthn_register(request: Request) -> Response:
        return await ceremony.register(request, subject_prefix="demo:")

    return api


def _amount(body: bytes) -> Any:
    try:
        return json.loads(body).get("amount")
    except (ValueError, AttributeError):
        return None


def _tamper(body: bytes, header: str) -> tuple[bytes, str]:
    """What an attacker in the middle does: a bigger amount, consistently in the
    request and in the proof's context (so the binding holds and only the
    signature can tell)."""
    try:
        transfer = json.loads(body)
        proof = json.loads(proof_from_header(header))
        transfer["amount"] = proof["context"]["amount"] = TAMPERED_AMOUNT
    except Exception:  # not our demo's shape: forward unchanged
        return body, header
    return json.dumps(transfer).encode(), encode_header(json.dumps(proof).encode())

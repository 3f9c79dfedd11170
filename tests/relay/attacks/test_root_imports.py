"""Imports after the privilege drop (issue 13).

A relay started as root binds, imports what serving needs (``cli._preload``), switches to
its service user and serves. The interpreter's own files may be unreadable to that user
(a Python or a venv under /root): a module first imported after the switch fails there.
The review got a 500 from ``LookupError: unknown encoding: utf-8-sig`` (a codec is a
module). Before: the route registration imported pydantic.v1, uvicorn its WebSocket
protocol, FastAPI its lifespan telemetry, anyio its asyncio backend, the first audit
witness push httpx's transport (httpcore, h11, certifi); ``socket.getaddrinfo`` the idna
codec, so that with Redis every worker died at its first connection; and the Redis
epoch file the ascii codec. Now ``_preload`` imports them, and uvicorn runs without
WebSockets.

A ``sitecustomize.py`` on the relay's PYTHONPATH adds an audit hook that writes down
every import, and every module file importlib opens (``importlib.import_module`` raises
no "import" event), once the process is no longer root. The test sends every kind of
request the relay answers, good and bad, stops it with SIGTERM and asserts that nothing
was imported after the drop; the control shows that the hook records such an import. The
``imports refused`` case makes the hook fail them, as an unreadable installation would,
on any machine: every answer must still be the right one.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import proof_messenger as pm
import pytest
from proof_messenger.relay.stores.credentials import b64url_decode
from test_webauthn_authenticator import AUDIENCE, CONTEXT, ORIGIN, RP_ID, Authenticator, b64url

from ..conftest import RelayProcess, demo_transfer, sign, start_relay
from ..test_server import SERVICE_USER, ensure_service_user
from .conftest import read_answer

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")

# Runs at the start of every Python process that has it on its path (site.py imports
# it). It imports nothing itself after the drop: the hook writes with os.write to a
# descriptor opened while still root.
HOOK = """\
import os
import sys

_log = os.environ.get("PM_IMPORT_LOG")
if _log:
    _fd = os.open(_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    _refuse = os.environ.get("PM_IMPORT_REFUSE") == "1"
    _dropped = set()  # the processes that reported running unprivileged
    _write, _geteuid, _getpid = os.write, os.geteuid, os.getpid

    def _caller():  # where it happens: the innermost frames outside importlib
        frame, where = sys._getframe(2), []  # the code that raised the event
        while frame is not None and len(where) < 6:
            if not frame.f_code.co_filename.startswith("<frozen"):
                where.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")
            frame = frame.f_back
        return " < ".join(where)

    def _hook(event, args):
        if _geteuid() == 0:
            return
        pid = _getpid()
        if pid not in _dropped:
            _dropped.add(pid)
            _write(_fd, f"{pid} dropped\\n".encode())
        if event == "import":
            _write(_fd, f"{pid} import {args[0]} from {_caller()}\\n".encode())
            if _refuse:
                raise ModuleNotFoundError(f"import of {args[0]!r} after the privilege drop", name=args[0])
        elif event == "open" and sys._getframe(1).f_code.co_filename.startswith("<frozen importlib"):
            # a module loaded by importlib.import_module, which raises no "import" event
            # (or a traceback's source lines, read through the module's loader: not an import)
            where = _caller()
            if "/linecache.py:" not in where:
                _write(_fd, f"{pid} load {args[0]} from {where}\\n".encode())
                if _refuse:
                    raise PermissionError(13, "unreadable after the privilege drop", args[0])

    sys.addaudithook(_hook)
"""


@dataclass
class Hooked:
    """The hook's directory (for PYTHONPATH) and its log."""

    env: dict[str, str]
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def after_drop(self) -> list[str]:
        """What was imported unprivileged: ``pid import|load module from where`` lines."""
        return [line for line in self.lines() if not line.endswith(" dropped")]

    def names(self) -> list[str]:
        return [line.split(" ", 3)[2] for line in self.after_drop()]

    def dropped_pids(self) -> set[int]:
        return {int(line.split()[0]) for line in self.lines() if line.endswith(" dropped")}

    def installed_after_drop(self) -> list[str]:
        """The imports after the drop of modules that exist. An optional dependency that
        is not installed (limits looks for valkey, pydantic.v1 for cython) fails to
        import for every user alike: its attempt costs a search, not a failure."""
        return [line for line in self.after_drop() if not _absent(line)]


def _absent(line: str) -> bool:
    _pid, kind, name, _where = line.split(" ", 3)
    if kind != "import":
        return False
    try:
        return importlib.util.find_spec(name) is None
    except ImportError:  # its package is missing
        return True


@pytest.fixture
def place() -> Iterator[Path]:
    """A directory the service user can reach (pytest's tmp_path is root-only)."""
    ensure_service_user()
    parent = Path(tempfile.mkdtemp(prefix="pm-imports-"))
    parent.chmod(0o755)
    try:
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def hooked(place: Path, name: str, refuse: bool = False) -> Hooked:
    hook_dir = place / f"{name}-hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    log = place / f"{name}-imports.log"
    path = os.pathsep.join(p for p in (str(hook_dir), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "PM_IMPORT_LOG": str(log), "PM_IMPORT_REFUSE": "1" if refuse else "0"}
    return Hooked(env, log)


def test_the_hook_records_an_import_after_the_drop(place: Path) -> None:
    """The control: the review's import (the codec json.loads needs for a BOM), made
    after setuid in a small process, is in the log; an import made as root is not."""
    pw = pwd.getpwnam(SERVICE_USER)
    hook = hooked(place, "control")
    code = (
        "import json, os\n"
        "import colorsys  # as root: not recorded\n"
        f"os.setgroups([]); os.setgid({pw.pw_gid}); os.setuid({pw.pw_uid})\n"
        "try:\n"
        "    json.loads(b'\\xef\\xbb\\xbf{}')  # imports encodings.utf_8_sig\n"
        "except LookupError as exc:  # where the service user cannot read the installation\n"
        "    print('the import failed for real:', exc)\n"
    )
    subprocess.run([sys.executable, "-c", code], env={**os.environ, **hook.env}, check=True, timeout=60)
    assert "encodings.utf_8_sig" in hook.names(), hook.lines()
    assert "colorsys" not in hook.names(), hook.lines()
    assert len(hook.dropped_pids()) == 1


class Witness(http.server.BaseHTTPRequestHandler):
    """An HTTP audit witness that takes every checkpoint (the relay pushes after the drop)."""

    pushes: list[bytes] = []  # noqa: RUF012 - one witness per test, reset by it

    def do_POST(self) -> None:
        Witness.pushes.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def witness() -> Iterator[str]:
    Witness.pushes = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Witness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/add-checkpoint"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("workers", "use_redis", "refuse", "demo"),
    [
        pytest.param(1, False, False, False, id="one worker"),
        pytest.param(2, True, False, False, id="two workers, redis"),
        pytest.param(1, False, True, False, id="one worker, imports refused"),
        pytest.param(1, False, False, True, id="demo"),
    ],
)
def test_nothing_is_imported_after_the_drop(
    workers: int,
    use_redis: bool,
    refuse: bool,
    demo: bool,
    place: Path,
    witness: str,
    request: pytest.FixtureRequest,
) -> None:
    hook = hooked(place, "relay", refuse=refuse)
    args = [
        "--workers",
        str(workers),
        *("--webauthn-rp-id", RP_ID, "--webauthn-origins", ORIGIN),
        *("--audit-witness-url", witness),
        *("--head-timeout-s", "1", "--idle-timeout-s", "1", "--body-timeout-s", "1"),
    ]
    if use_redis:
        args += ["--redis-url", request.getfixturevalue("redis_server").url]
    if demo:
        args.append("--demo")
    try:
        relay = start_relay(place / "data", *args, env=hook.env, allow_root=False)
    except RuntimeError as exc:  # a relay that cannot start: show what it imported on the way
        raise AssertionError(f"{summary(hook.installed_after_drop())}\n\n{exc}") from exc
    failed: AssertionError | None = None
    pushed = False
    try:
        uid = pwd.getpwnam(SERVICE_USER).pw_uid
        status = Path(f"/proc/{relay.proc.pid}/status").read_text()
        assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status  # the relay did drop
        # a new connection for each request: with two workers, both get requests
        with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as http:
            for _round in range(workers):
                exercise(relay, http)
            if demo:
                exercise_demo(relay, http)
        pushed = eventually(lambda: len(Witness.pushes) > 0)
    except AssertionError as exc:
        failed = exc  # reported with what the hook saw
    finally:
        code = relay.stop()  # SIGTERM: the graceful shutdown runs unprivileged too
    stderr = relay.stderr_path.read_text()
    late = hook.installed_after_drop()
    assert late == [], f"{summary(late)}\n\n{failed}\n{stderr}"
    if failed is not None:
        raise AssertionError(f"{failed}\n{stderr}") from failed
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert pushed, "the relay pushed no checkpoint to its witness:\n" + stderr
    # the hook did run after the drop, in the master and in each worker
    assert len(hook.dropped_pids()) >= 1 + (workers if workers > 1 else 0), hook.lines()


def summary(late: list[str]) -> str:
    """The modules first, then every line with where it happened."""
    names = sorted({_module(line) for line in late})
    return f"imported after the privilege drop: {' '.join(names)}\n" + "\n".join(late)


def _module(line: str) -> str:
    _pid, kind, name, _where = line.split(" ", 3)
    if kind == "load":  # a file: .../site-packages/anyio/_backends/__pycache__/_asyncio.cpython-311.pyc
        parts = [p for p in name.split("/site-packages/")[-1].split("/") if p != "__pycache__"]
        parts[-1] = parts[-1].split(".")[0]
        name = ".".join(parts).removesuffix(".__init__")
    return name


def eventually(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def exercise(relay: RelayProcess, http: httpx.Client) -> None:
    """One request of every kind the relay answers, each checked."""
    url, admin = relay.url, relay.admin
    as_json = {"content-type": "application/json"}

    def post(
        path: str, body: bytes, headers: dict[str, str], want: int, via: httpx.Client = http
    ) -> httpx.Response:
        r = via.post(url + path, content=body, headers={**as_json, **headers})
        assert r.status_code == want, (path, body[:40], r.status_code, r.text)
        return r

    def get(path: str, headers: dict[str, str], want: int = 200, via: httpx.Client = http) -> httpx.Response:
        r = via.get(url + path, headers=headers)
        assert r.status_code == want, (path, r.status_code, r.text)
        return r

    def error(r: httpx.Response) -> str:
        return str(r.json()["error"]["code"])

    def new_client(role: str = "client") -> dict[str, str]:
        body = json.dumps({"name": role, "audience": AUDIENCE, "role": role}).encode()
        return {"authorization": f"Bearer {post('/v1/admin/clients', body, admin, 201).json()['apiKey']}"}

    # operations
    get("/healthz", {})
    get("/readyz", {})
    assert "proof" in get("/metrics", {}).text

    # admin: clients and keys, good and bad bodies
    client_body = json.dumps({"name": "bank", "audience": AUDIENCE}).encode()
    client = new_client()
    auditor = new_client("auditor")
    key = pm.SigningKey.generate()
    subject = f"alice-{secrets.token_hex(4)}"
    key_body = json.dumps({"subject": subject, "publicKey": key.verifying_key.to_base64()}).encode()
    enrolled = post("/v1/admin/keys", key_body, admin, 201).json()
    bad_bodies = [
        b"\xef\xbb\xbf" + client_body,  # UTF-8 with a BOM
        client_body.decode().encode("utf-16"),  # UTF-16 with a BOM
        client_body.decode().encode("utf-32"),
        b"\x00" + client_body,  # NUL-led
        b"{not json",
        b"\xff\xfe\xfa",
        b"[]",
        json.dumps({"name": "x"}).encode(),  # missing member
    ]
    for path in ("/v1/admin/clients", "/v1/admin/keys", "/v1/challenges"):
        auth = client if path == "/v1/challenges" else admin
        for body in bad_bodies:
            assert error(post(path, body, auth, 400)) == "invalid_request"
    post("/v1/admin/clients", client_body, {"authorization": "Bearer wrong"}, 401)
    post("/v1/admin/clients", client_body, {**admin, "content-type": "text/plain"}, 415)
    post("/v1/admin/keys", key_body, admin, 409)  # enrolled already
    get("/v1/admin/clients?includeRevoked=true", admin)
    get(f"/v1/admin/keys?subject={subject}", admin)
    get(f"/v1/admin/keys/{enrolled['id']}", admin)
    get("/v1/admin/keys/no-such-id", admin, 404)
    get("/v1/admin/keys?limit=0", admin, 400)
    other = pm.SigningKey.generate()
    other_body = json.dumps({"subject": subject, "publicKey": other.verifying_key.to_base64()}).encode()
    other_id = post("/v1/admin/keys", other_body, admin, 201).json()["id"]
    post(f"/v1/admin/keys/{other_id}/revoke", b"", admin, 200)
    spare = post("/v1/admin/clients", client_body, admin, 201).json()
    post(f"/v1/admin/clients/{spare['id']}/revoke", b"", admin, 200)
    post(
        "/v1/proofs/verify",
        sign(key, subject=subject).to_json(),
        {"authorization": f"Bearer {spare['apiKey']}"},
        401,
    )

    # challenges and single proofs: valid, and each way to fail
    def verify(proof: bytes, want: int = 200) -> dict[str, object]:
        return dict(post("/v1/proofs/verify", proof, client, want).json())

    challenge = post("/v1/challenges", json.dumps({"subject": subject}).encode(), client, 201).json()
    with_challenge = sign(key, subject=subject, nonce=challenge["nonce"]).to_json()
    assert verify(with_challenge)["valid"] is True
    good = sign(key, subject=subject).to_json()
    v = verify(good)
    assert v["valid"] is True, v
    assert verify(good)["code"] == "nonce_replayed"
    wire = json.loads(sign(key, subject=subject).to_json())
    wire["context"]["amount"] = "100000.00"
    assert verify(json.dumps(wire).encode())["code"] == "bad_signature"
    expired = sign(key, subject=subject, timestamp_ms=pm.now_ms() - 301_000).to_json()
    assert verify(expired)["code"] == "proof_expired"
    future = sign(key, subject=subject, timestamp_ms=pm.now_ms() + 31_000).to_json()
    assert verify(future)["code"] == "timestamp_in_future"
    assert verify(sign(pm.SigningKey.generate(), subject=subject).to_json())["code"] == "untrusted_key"
    assert verify(sign(other, subject=subject).to_json())["code"] == "untrusted_key"  # revoked
    assert verify(sign(key, subject=subject, audience="other-api").to_json())["code"] == "audience_mismatch"
    assert verify(sign(key, subject=None).to_json())["code"] == "missing_subject"
    wire = json.loads(sign(key, subject=subject).to_json())
    wire["algorithm"] = "none"
    verify(json.dumps(wire).encode(), 400)
    fresh = sign(key, subject=subject).to_json()
    for malformed in (
        b"{",
        b"[]",
        b'{"version":1}',
        b'{"a":1,"a":2}',
        b"\xff\xfe",
        b"[" * 40 + b"]" * 40,
        b"\xef\xbb\xbf" + fresh,
        fresh.decode().encode("utf-16"),
        b"\x00" + fresh,
        b"",
    ):
        verify(malformed, 400)
    post("/v1/proofs/verify", good, {}, 401)

    # batches
    lines = [
        sign(key, subject=subject).to_json(),
        good,
        b"not json",
        sign(other, subject=subject).to_json(),
        b"\xef\xbb\xbf" + sign(key, subject=subject).to_json(),
    ]
    ndjson = {**client, "content-type": "application/x-ndjson"}
    r = http.post(url + "/v1/proofs/verify-batch", content=b"\n".join(lines) + b"\n", headers=ndjson)
    assert r.status_code == 200, r.text
    codes = [x["code"] for x in r.json()["results"]]
    assert codes == [None, "nonce_replayed", "invalid_json", "untrusted_key", "invalid_json"], codes
    for bad in (b"\n\n", lines[0] + b"\n\n" + lines[1]):
        r = http.post(url + "/v1/proofs/verify-batch", content=bad, headers=ndjson)
        assert r.status_code == 400, r.text

    # WebAuthn: registration ceremony, an assertion, its replay, the credential's admin
    auth = Authenticator("ES256", seed=secrets.randbelow(10**9))
    wa_subject = f"wa-{secrets.token_hex(4)}"
    options = post(
        "/v1/webauthn/registrations/challenge", json.dumps({"subject": wa_subject}).encode(), admin, 201
    ).json()
    att, cdj = auth.registration(b64url_decode(options["challenge"]))
    registration = {
        "challenge": options["challenge"],
        "attestationObject": b64url(att),
        "clientDataJSON": b64url(cdj),
    }
    post("/v1/webauthn/registrations", json.dumps(registration).encode(), admin, 201)
    post("/v1/webauthn/registrations", json.dumps(registration).encode(), admin, 400)  # challenge used
    post("/v1/webauthn/registrations", b"\xef\xbb\xbf{}", admin, 400)
    assertion = json.dumps(
        auth.proof(
            context={**CONTEXT, "subject": wa_subject},
            timestamp_ms=pm.now_ms() - 100,
            nonce=b64url(secrets.token_bytes(16)),
            count=5,
        )
    ).encode()
    wa = new_client()
    assert post("/v1/proofs/verify", assertion, wa, 200).json()["valid"] is True
    assert post("/v1/proofs/verify", assertion, wa, 200).json()["code"] == "counter_not_increasing"
    get(f"/v1/webauthn/credentials?subject={wa_subject}", admin)
    post(f"/v1/webauthn/credentials/{b64url(auth.credential_id)}/revoke", b"", admin, 200)
    post("/v1/webauthn/credentials/not%20base64/revoke", b"", admin, 400)

    # the audit log: a checkpoint now, then every read route, on one connection (each
    # worker keeps its own log)
    with httpx.Client(timeout=10) as one:
        size = post("/v1/admin/audit/checkpoint", b"", admin, 200, one).json()["size"]
        nosy = new_client()
        assert size >= 1
        for path, who, want in (
            ("/audit/checkpoint", client, 200),
            ("/audit/public-key", client, 200),
            ("/audit/entries/0", auditor, 200),
            (f"/audit/entries/{size + 10}", auditor, 404),
            ("/audit/entries/0", nosy, 403),  # another client's entry
            ("/audit/receipts/0", auditor, 200),
            ("/audit/proof/inclusion?index=0", client, 200),
            (f"/audit/proof/consistency?old=1&new={size}", client, 200),
            ("/audit/proof/inclusion?index=-1", client, 400),
            ("/audit/checkpoint", {}, 401),
        ):
            get(path, who, want, one)

    # the framework's own answers, and the connection layer
    get("/no/such/path", {}, 404)
    get("/v1/proofs/verify", client, 405)
    r = http.post(url + "/v1/proofs/verify", content=b"x" * 70_000, headers={**as_json, **client})
    assert r.status_code == 413, r.text
    address = url.removeprefix("http://").rsplit(":", 1)
    bearer = b"Content-Type: application/json\r\nAuthorization: " + client["authorization"].encode() + b"\r\n"
    for raw, want in (
        (
            b"POST /v1/proofs/verify HTTP/1.1\r\nHost: x\r\n" + bearer + b"Content-Length: 100000000\r\n\r\n",
            413,
        ),
        (b"POST /v1/proofs/verify HTTP/1.1\r\nHost: x\r\n" + bearer + b"Content-Length: 1000\r\n\r\n{", 408),
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 200),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", 408),  # a head never completed
    ):
        with socket.create_connection((address[0], int(address[1])), timeout=10) as sock:
            sock.sendall(raw)
            assert read_answer(sock)[0] == want, raw
    with socket.create_connection((address[0], int(address[1])), timeout=10) as sock:
        assert sock.recv(1) == b""  # a silent connection: closed after the idle timeout


def exercise_demo(relay: RelayProcess, http: httpx.Client) -> None:
    """The demo's page, its files and its API (tests/relay/test_demo.py does the same in process)."""
    url = relay.url
    for path in ("/demo/", "/demo/app.js", "/demo/demo.css"):
        assert http.get(url + path).status_code == 200, path
    assert http.get(url + "/demo/pkg/package.json").status_code == 404
    assert http.get(url + "/demo/pkg/dist/proof_messenger_wasm_bg.wasm").status_code in (200, 404)  # built?
    key = pm.SigningKey.generate()
    r = http.post(url + "/demo/api/enroll", json={"publicKey": key.verifying_key.to_base64()})
    assert r.status_code == 201, r.text
    subject = r.json()["subject"]
    assert http.post(url + "/demo/api/enroll", json={"publicKey": "AAAA"}).status_code == 400
    for compromised, backend in ((False, 200), (True, 403)):
        ch = http.post(url + "/demo/api/challenge", json={"subject": subject})
        assert ch.status_code == 201, ch.text
        context, headers = demo_transfer(key, subject, ch.json()["nonce"], compromised=compromised)
        r = http.post(url + "/demo/api/transfer", json=context, headers=headers)
        assert r.status_code == 200 and r.json()["backend"]["status"] == backend, r.text
    options = http.post(url + "/demo/api/webauthn/challenge", json={})
    assert options.status_code == 201, options.text
    auth = Authenticator("ES256", seed=secrets.randbelow(10**9))
    att, cdj = auth.registration(b64url_decode(options.json()["challenge"]))
    registration = {
        "challenge": options.json()["challenge"],
        "attestationObject": b64url(att),
        "clientDataJSON": b64url(cdj),
    }
    r = http.post(url + "/demo/api/webauthn/register", json=registration)
    assert r.status_code == 201, r.text

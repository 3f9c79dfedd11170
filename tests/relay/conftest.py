"""Fixtures for the relay tests: real package, real stores, in-process ASGI client."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import proof_messenger as pm
import pytest
from proof_messenger.integrations import PROOF_HEADER, encode_header
from proof_messenger.relay import load_config
from proof_messenger.relay.http import create_app
from proof_messenger.relay.service import Relay, build_relay

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    """An injectable clock (ms); defaults to real time, can be pinned or moved."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def __call__(self) -> int:
        return pm.now_ms() + self.offset_ms


@dataclass
class RelayHarness:
    relay: Relay
    app: Any
    http: httpx.AsyncClient
    clock: Clock
    admin: dict[str, str] = field(default_factory=dict)

    async def new_client(self, audience: str = "payments-api", name: str = "backend") -> dict[str, str]:
        r = await self.http.post(
            "/v1/admin/clients", json={"name": name, "audience": audience}, headers=self.admin
        )
        assert r.status_code == 201, r.text
        return {"authorization": f"Bearer {r.json()['apiKey']}", "x-client-id": r.json()["id"]}

    async def enroll(
        self, subject: str, key: pm.SigningKey | None = None, **extra: Any
    ) -> tuple[pm.SigningKey, dict]:
        key = key or pm.SigningKey.generate()
        body = {"subject": subject, "publicKey": key.verifying_key.to_base64(), **extra}
        r = await self.http.post("/v1/admin/keys", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return key, r.json()

    async def verify(self, proof: pm.Proof | bytes, headers: dict[str, str]) -> httpx.Response:
        body = proof.to_json() if isinstance(proof, pm.Proof) else proof
        return await self.http.post(
            "/v1/proofs/verify", content=body, headers={**headers, "content-type": "application/json"}
        )

    async def verify_batch(self, proofs: list[pm.Proof | bytes], headers: dict[str, str]) -> httpx.Response:
        lines = [p.to_json() if isinstance(p, pm.Proof) else p for p in proofs]
        return await self.http.post(
            "/v1/proofs/verify-batch",
            content=b"\n".join(lines) + b"\n",
            headers={**headers, "content-type": "application/x-ndjson"},
        )


def make_config(data_dir: Path, **overrides: Any):
    flags = {"data_dir": str(data_dir), "decision_log": "", **overrides}
    return load_config(env={}, flags=flags)


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``async with make_harness(**config_overrides) as h`` — several per test allowed."""
    import contextlib

    relays: list[Relay] = []

    @contextlib.asynccontextmanager
    async def factory(data_dir: Path | None = None, **overrides: Any) -> AsyncIterator[RelayHarness]:
        clock = Clock()
        cfg = make_config(data_dir or tmp_path / f"data{len(relays)}", **overrides)
        relay = build_relay(cfg, clock=clock, announce=None)
        relays.append(relay)
        app = create_app(relay=relay)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://relay.test") as http:
            yield RelayHarness(relay, app, http, clock, {"authorization": f"Bearer {relay.admin_token}"})

    yield factory
    for relay in relays:
        relay.close()


@pytest.fixture
async def h(make_harness: Callable[..., Any]) -> AsyncIterator[RelayHarness]:
    async with make_harness() as harness:
        yield harness


def sign(
    key: pm.SigningKey, subject: str | None = "alice", audience: str = "payments-api", **kw: Any
) -> pm.Proof:
    context: dict[str, Any] = {
        "action": "wire_transfer",
        "amount": "100.00",
        "currency": "EUR",
        "to": "ACME-1",
    }
    if subject is not None:
        context["subject"] = subject
    context.update(kw.pop("context", {}))
    return pm.sign(context, key, audience=audience, **kw)


# --- subprocess helpers (real servers on loopback) -------------------------------


def free_port() -> int:
    """A port that was free a moment ago. Racy (another process may take it before it is
    used): only for servers that cannot bind port 0 themselves, and only with a retry on
    "address in use" (see redis_server). The relay binds port 0 itself (start_relay)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RelayProcess:
    proc: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    stderr_path: Path

    @property
    def admin(self) -> dict[str, str]:
        return {"authorization": "Bearer " + (self.data_dir / "admin.token").read_text().strip()}

    def stop(self, sig: int | None = None) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(sig or signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def relay_argv(data_dir: Path, *args: str) -> list[str]:
    """The command line of a relay on port 0 over ``data_dir``, without decision log, as
    root if run so (for tests that run it themselves, to watch it fail or exit)."""
    return [
        *relay_command(),
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--decision-log",
        "",
        "--allow-root",
        *args,
    ]


def demo_transfer(
    key: pm.SigningKey, subject: str, nonce: str, *, compromised: bool = False
) -> tuple[dict[str, str], dict[str, str]]:
    """The demo page's transfer request for ``subject``: its context (the JSON body) and its
    headers, the proof over the challenge ``nonce`` and, if ``compromised``, the switch that
    makes the demo's proxy alter the amount."""
    context = {
        "action": "wire_transfer",
        "amount": "2500.00",
        "currency": "EUR",
        "to": "DE89",
        "subject": subject,
    }
    proof = pm.sign(context, key, audience="demo-bank", nonce=nonce)
    headers = {PROOF_HEADER: encode_header(proof.to_json())}
    if compromised:
        headers["X-Demo-Compromised-Proxy"] = "1"
    return context, headers


def relay_command() -> list[str]:
    exe = VENV_BIN / "proof-messenger"
    if exe.exists():
        return [str(exe), "relay"]
    return [sys.executable, "-m", "proof_messenger.relay"]


def start_relay(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 20,
    allow_root: bool = True,
    command: list[str] | None = None,
) -> RelayProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"{data_dir.name}.stderr"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PROOF_MESSENGER_")}
    full_env.update({"PYTHONUNBUFFERED": "1", **(env or {})})
    errf = log.open("wb")
    proc = subprocess.Popen(
        [
            *(command or relay_command()),
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--decision-log",
            str(data_dir.parent / f"{data_dir.name}.decisions.log"),
            *(["--allow-root"] if allow_root else []),
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=errf,
        env=full_env,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "Application startup complete" in text:
            for line in text.splitlines():
                if "listening on http://" in line:
                    url = line.split("listening on ")[1].split()[0]
                    return RelayProcess(proc, url, data_dir, log)
        if proc.poll() is not None:
            raise RuntimeError(f"relay exited early:\n{text}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"relay did not start:\n{log.read_text(errors='replace')}")


@dataclass
class RedisServer:
    proc: subprocess.Popen[bytes]
    port: int
    exe: str = "redis-server"
    workdir: Path = Path()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def restart(self) -> None:
        """Stops the server and starts a new, empty one on the same port (no persistence)."""
        self.proc.terminate()
        self.proc.wait(timeout=10)
        for _attempt in range(REDIS_START_ATTEMPTS):
            started = _start_redis(self.exe, self.workdir, port=self.port)
            if started is not None:
                self.proc = started[0]
                return
            time.sleep(0.2)  # the old listener's port may linger a moment
        raise RuntimeError(f"redis-server could not take back port {self.port}")


REDIS_START_ATTEMPTS = 5


def _start_redis(
    exe: str, workdir: Path, port: int | None = None
) -> tuple[subprocess.Popen[bytes], int] | None:
    """One start-up of redis-server on a fresh port (or ``port``): (process, port), or None
    if the port was taken in the meantime (redis exits with "Address already in use")."""
    import redis

    port = port or free_port()
    log = workdir / f"redis-{port}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(workdir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
    deadline = time.monotonic() + 30  # generous: only catches a server that never comes up
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                text = log.read_text(errors="replace")
                if "Address already in use" in text:
                    return None
                raise RuntimeError(f"redis-server exited with {proc.returncode}:\n{text}")
            try:
                # our server, not another one that took the port
                if client.info("server")["process_id"] == proc.pid:
                    return proc, port
            except redis.exceptions.RedisError:  # not up yet (or another listener that took the port)
                pass
            time.sleep(0.025)
    finally:
        client.close()
    proc.kill()
    proc.wait(timeout=10)
    raise RuntimeError(f"redis-server did not start:\n{log.read_text(errors='replace')}")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    exe = shutil.which("redis-server")
    assert exe, "redis-server is required (apt-get install redis-server)"
    workdir = tmp_path / "redis"
    workdir.mkdir()
    for _attempt in range(REDIS_START_ATTEMPTS):
        started = _start_redis(exe, workdir)
        if started is not None:
            break
    else:
        raise RuntimeError(f"redis-server found its port taken {REDIS_START_ATTEMPTS} times in a row")
    proc, port = started
    server = RedisServer(proc, port, exe, workdir)
    yield server
    server.proc.terminate()
    server.proc.wait(timeout=10)


def audit_entries(data_dir: Path) -> list[dict[str, Any]]:
    """Audits every Merkle log under ``data_dir`` (all must verify) and returns their entries."""
    import json

    from proof_messenger.auditlog import audit_data_dir

    reports, problems = audit_data_dir(data_dir)
    assert reports and not problems, problems
    assert all(r.ok for r in reports), [(r.directory, r.findings) for r in reports]
    entries: list[dict[str, Any]] = []
    for r in reports:
        for line in (r.directory / "entries.jsonl").read_bytes().splitlines():
            obj = json.loads(line)
            if "commit" not in obj:
                entries.append(obj)
    return entries

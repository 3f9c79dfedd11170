"""A real `proof-messenger relay` process on a loopback port: crash safety, shutdown, privileges."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import httpx
import proof_messenger as pm

from .conftest import RelayProcess, audit_entries, sign, start_relay


def _setup(relay: RelayProcess, http: httpx.Client) -> tuple[dict[str, str], pm.SigningKey]:
    r = http.post(
        f"{relay.url}/v1/admin/clients",
        json={"name": "bank", "audience": "payments-api"},
        headers=relay.admin,
    )
    assert r.status_code == 201, r.text
    client = {"authorization": f"Bearer {r.json()['apiKey']}"}
    key = pm.SigningKey.generate()
    r = http.post(
        f"{relay.url}/v1/admin/keys",
        json={"subject": "alice", "publicKey": key.verifying_key.to_base64()},
        headers=relay.admin,
    )
    assert r.status_code == 201, r.text
    return client, key


def wait_for(condition: Callable[[], bool], message: str, timeout: float = 30) -> None:
    """Polls `condition` until it holds; the deadline is generous, only to catch a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.02)


def in_flight(relay: RelayProcess) -> float:
    """The relay's proof_messenger_http_in_flight gauge (this /metrics request included)."""
    text = httpx.get(f"{relay.url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith("proof_messenger_http_in_flight "):
            return float(line.split()[1])
    raise AssertionError("no proof_messenger_http_in_flight gauge in /metrics")


def _verify(
    http: httpx.Client, relay: RelayProcess, client: dict[str, str], proof: pm.Proof
) -> httpx.Response:
    return http.post(
        f"{relay.url}/v1/proofs/verify",
        content=proof.to_json(),
        headers={**client, "content-type": "application/json"},
    )


def test_nonce_survives_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    relay = start_relay(data)
    with httpx.Client(timeout=10) as http:
        client, key = _setup(relay, http)
        proof = sign(key)
        first = _verify(http, relay, client, proof).json()
        assert first["valid"] is True
        relay.proc.send_signal(signal.SIGKILL)  # no shutdown hook runs
        relay.proc.wait(timeout=10)
        relay2 = start_relay(data)
        try:
            again = _verify(http, relay2, client, proof).json()
            assert (again["valid"], again["code"]) == (False, "nonce_replayed")
            assert again["receiptId"] != first["receiptId"]
            assert _verify(http, relay2, client, sign(key)).json()["valid"] is True
        finally:
            assert relay2.stop() == 0
    # the receipt handed out before the crash is in the (fsynced) audit log, which verifies
    entries = audit_entries(data)
    assert len(entries) == 3
    assert [e["decision"] for e in entries if e["receiptId"] == first["receiptId"]] == ["accepted"]


def test_module_entry_point_and_graceful_shutdown_drains(tmp_path: Path) -> None:
    relay = start_relay(tmp_path / "data", command=[sys.executable, "-m", "proof_messenger.relay"])
    with httpx.Client(timeout=10) as http:
        client, key = _setup(relay, http)
    body = sign(key).to_json()
    url = urlparse(relay.url)
    sock = socket.create_connection((url.hostname, url.port))
    head = (
        f"POST /v1/proofs/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: {client['authorization']}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[:10])  # the request is in flight: headers and part of the body
    # Ready when the relay is serving it: the in-flight gauge counts it and the /metrics request.
    wait_for(lambda: in_flight(relay) >= 2, "the relay never started serving the partial request")
    relay.proc.send_signal(signal.SIGTERM)
    wait_for(
        lambda: "Waiting for connections to close" in relay.stderr_path.read_text(errors="replace"),
        "the relay did not start draining after SIGTERM",
    )
    assert relay.proc.poll() is None  # draining: it waits for our request instead of exiting
    sock.sendall(body[10:])
    response = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        response += chunk
    sock.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert b'"valid":true' in response
    assert relay.proc.wait(timeout=20) == 0
    # new connections are refused after shutdown
    try:
        socket.create_connection((url.hostname, url.port), timeout=1).close()
        refused = False
    except OSError:
        refused = True
    assert refused


def test_slow_and_oversized_bodies_over_a_socket(tmp_path: Path) -> None:
    """No timing is asserted: what the relay answers, and when in the exchange, shows it.

    The client sends the head (and for the slow body one byte of 1000) and never more;
    it waits up to 30 s (generous, only to catch a hang) for the answer and for the
    relay to close the connection.
    """
    relay = start_relay(tmp_path / "data", "--body-timeout-s", "0.5")
    try:
        with httpx.Client(timeout=10) as http:
            client, _ = _setup(relay, http)
        url = urlparse(relay.url)

        def request(head: str, body: bytes = b"") -> tuple[bytes, bool]:
            """The response, and whether the relay then closed the connection."""
            s = socket.create_connection((url.hostname, url.port))
            s.settimeout(30)
            s.sendall(head.encode() + body)
            data, closed = b"", False
            while True:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    closed = True
                    break
                except TimeoutError:
                    break
                if not chunk:
                    closed = True
                    break
                data += chunk
            s.close()
            return data, closed

        base = (
            "POST /v1/proofs/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: {client['authorization']}\r\n"
        )
        # declared 100 MB: refused from the head alone (no body byte was sent; a relay that
        # waited for the body would answer 408 request_timeout instead), connection closed
        resp, closed = request(base + "Content-Length: 100000000\r\n\r\n")
        assert resp.startswith(b"HTTP/1.1 413") and b"input_too_large" in resp, resp[:200]
        assert closed
        # slowloris body: 1 of 1000 bytes and then nothing; the relay gives up with 408
        # (the body timeout's answer) instead of waiting for the rest, and closes
        resp, closed = request(base + "Content-Length: 1000\r\n\r\n", b"{")
        assert resp.startswith(b"HTTP/1.1 408") and b"request_timeout" in resp, resp[:200]
        assert closed
    finally:
        assert relay.stop() == 0


SERVICE_USER = "proof-messenger"  # the relay's default --user


def ensure_service_user() -> None:
    """As root, the dedicated user the relay drops to by default, created as an operator
    would (a system account without a home or a shell)."""
    import pwd
    import subprocess

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
        )


def test_privilege_drop_when_started_as_root(tmp_path: Path) -> None:
    import tempfile

    if os.geteuid() == 0:
        ensure_service_user()
    parent = Path(tempfile.mkdtemp(prefix="pm-drop-"))
    parent.chmod(0o755)  # pytest's tmp_path is root-only: the dropped user could not reach it
    data = parent / "data"
    relay = start_relay(data, allow_root=False)
    try:
        status = Path(f"/proc/{relay.proc.pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        uids = {int(x) for x in uid_line.split()[1:]}
        if os.geteuid() == 0:
            import pwd

            assert uids == {pwd.getpwnam(SERVICE_USER).pw_uid}  # real, effective, saved, fs: all dropped
            assert data.stat().st_uid == pwd.getpwnam(SERVICE_USER).pw_uid
        else:
            assert uids == {os.geteuid()}
        with httpx.Client(timeout=10) as http:
            client, key = _setup(relay, http)
            assert _verify(http, relay, client, sign(key)).json()["valid"] is True
            assert http.get(f"{relay.url}/readyz").status_code == 200
    finally:
        assert relay.stop() == 0
        import shutil

        shutil.rmtree(parent, ignore_errors=True)


def test_root_without_a_usable_user_refuses(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        # Not root: the option is inert and the relay starts normally.
        relay = start_relay(tmp_path / "data", "--user", "no-such-user-xyz", allow_root=False)
        assert relay.stop() == 0
        return
    try:
        start_relay(tmp_path / "data", "--user", "no-such-user-xyz", allow_root=False, timeout=10)
    except RuntimeError as exc:
        assert "refusing to run as root" in str(exc) and "useradd --system" in str(exc)
    else:
        raise AssertionError("the relay started as root without a user to drop to")


def test_default_bind_is_loopback(tmp_path: Path) -> None:
    relay = start_relay(tmp_path / "data")
    try:
        assert urlparse(relay.url).hostname == "127.0.0.1"
    finally:
        relay.stop()


def test_concurrent_clients_against_real_server(tmp_path: Path) -> None:
    """Many concurrent requests: every proof accepted exactly once, audit log intact."""
    relay = start_relay(tmp_path / "data", "--rate-limit-subject", "10000/minute")
    try:
        with httpx.Client(timeout=20) as http:
            client, key = _setup(relay, http)
        proofs = [sign(key) for _ in range(60)]
        results: list[dict] = []
        lock = threading.Lock()

        def worker(chunk: list[pm.Proof]) -> None:
            with httpx.Client(timeout=20) as http:
                for p in chunk:
                    for _ in range(2):  # each proof twice
                        v = _verify(http, relay, client, p).json()
                        with lock:
                            results.append(v)

        threads = [threading.Thread(target=worker, args=(proofs[i::6],)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(v["valid"] for v in results) == 60
        assert sum(v["code"] == "nonce_replayed" for v in results) == 60
    finally:
        assert relay.stop() == 0
    assert len(audit_entries(tmp_path / "data")) == 120


def test_two_workers_share_socket_and_stores(tmp_path: Path) -> None:
    """--workers 2: two processes accept on one socket, share the SQLite nonce store
    and the audit data dir (one log each), and both drain and exit on SIGTERM."""
    data = tmp_path / "data"
    relay = start_relay(data, "--workers", "2", "--rate-limit-subject", "10000/minute")
    try:
        import time

        deadline = time.monotonic() + 30  # generous: only catches workers that never start
        children: list[str] = []
        while time.monotonic() < deadline and len(children) < 2:
            children = Path(f"/proc/{relay.proc.pid}/task/{relay.proc.pid}/children").read_text().split()
            time.sleep(0.05)
        assert len(children) == 2
        with httpx.Client(timeout=10) as http:
            client, key = _setup(relay, http)
        proofs = [sign(key) for _ in range(40)]
        verdicts: list[dict] = []
        lock = threading.Lock()

        def worker(chunk: list[pm.Proof]) -> None:
            for p in chunk:
                for _ in range(2):
                    with httpx.Client(
                        timeout=20
                    ) as http:  # a new connection per request: both workers get some
                        v = _verify(http, relay, client, p).json()
                    with lock:
                        verdicts.append(v)

        threads = [threading.Thread(target=worker, args=(proofs[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(v["valid"] for v in verdicts) == 40
        assert sum(v["code"] == "nonce_replayed" for v in verdicts) == 40
    finally:
        assert relay.stop() == 0
    assert len(audit_entries(data)) == 80  # one log per worker process


def test_a_crashing_worker_says_why(tmp_path: Path) -> None:
    """--workers 2 on a data directory whose database is garbage: each worker fails in
    create_app and is restarted; its traceback must reach stderr (os._exit in the worker
    used to swallow it, leaving only "worker exited; restarting")."""
    import subprocess

    from .conftest import relay_argv

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "relay.sqlite3").write_bytes(b"this is not a database" * 100)
    log = tmp_path / "stderr"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            relay_argv(data, "--workers", "2"),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 30
        text = ""
        while time.monotonic() < deadline and "worker 0 failed" not in text:
            time.sleep(0.2)
            text = log.read_text(errors="replace")
        assert "worker 0 failed" in text and "Traceback" in text, text
        assert "not a database" in text, text
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_websocket_upgrades_write_nothing_into_the_log(tmp_path: Path) -> None:
    """The relay has no WebSocket routes: an upgrade request is answered as plain HTTP, and
    a flood of them adds no line to the log (uvicorn logged two warnings per request)."""
    relay = start_relay(tmp_path / "data")
    try:
        host, port = urlparse(relay.url).hostname, urlparse(relay.url).port
        request = (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        before = relay.stderr_path.read_text()
        for _ in range(50):
            with socket.create_connection((host, port), timeout=10) as s:
                s.sendall(request)
                assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
        time.sleep(0.2)
        grown = relay.stderr_path.read_text()[len(before) :]
        assert "upgrade" not in grown.lower() and "websocket" not in grown.lower(), grown
    finally:
        assert relay.stop() == 0

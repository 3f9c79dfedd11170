"""Connections never closed (issue 13, medium).

Before: uvicorn's only timer was keep-alive after a response; a new connection that
sends nothing, or a request head sent a byte at a time, was held forever, and nothing
bounded their number. With a 1,024-descriptor limit, 1,018 idle connections made fresh
clients fail and SQLite report "unable to open database file". Now a silent connection
is closed after ``idle_timeout_s``, an incomplete head after ``head_timeout_s``, and at
``max_connections`` a newcomer evicts the oldest connection waiting for a head.

The relays here run under a 256-descriptor limit (``ulimit -n``), so that a few hundred
connections from this test reach it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from ..conftest import RelayProcess, relay_command, sign, start_relay
from .conftest import enroll, new_client, read_answer

FD_LIMIT = 256


def _start(tmp_path_factory: pytest.TempPathFactory, *args: str) -> RelayProcess:
    limited = ["sh", "-c", f'ulimit -n {FD_LIMIT} && exec "$@"', "sh", *relay_command()]
    return start_relay(tmp_path_factory.mktemp("connections") / "data", *args, command=limited)


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    proc = _start(tmp_path_factory, "--head-timeout-s", "3", "--idle-timeout-s", "2")
    try:
        yield proc
    finally:
        proc.stop()


def _address(relay: RelayProcess) -> tuple[str, int]:
    host, port = relay.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _closed_by_peer(sock: socket.socket, within: float) -> tuple[bool, bytes]:
    """Whether the relay closed ``sock`` within ``within`` seconds, and what it sent first."""
    sock.settimeout(0.2)
    got = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


class _Trickle:
    """Request heads sent one byte every ``interval`` seconds on many connections."""

    HEAD = b"POST /v1/proofs/verify HTTP/1.1\r\nHost: relay\r\n" + b"X-Pad: " + b"a" * 4000

    def __init__(self, socks: list[socket.socket], interval: float) -> None:
        self.socks, self.interval = socks, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for i in range(len(self.HEAD)):
            if self.stop.wait(self.interval):
                return
            for sock in self.socks:
                try:
                    sock.send(self.HEAD[i : i + 1])
                except OSError:
                    pass  # closed by the relay: the point

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.socks:
            sock.close()


def test_the_descriptor_bound_is_fitted_to_the_limit(relay: RelayProcess) -> None:
    """max_connections (1024 by default) does not fit 256 descriptors: lowered, with a warning."""
    log = relay.stderr_path.read_text()
    assert "max_connections lowered from 1024 to 192" in log
    assert "LimitNOFILE" in log


def test_silent_and_trickling_connections_do_not_lock_out_a_client(relay: RelayProcess) -> None:
    """300 silent connections and 100 trickling request heads, more than the descriptors
    the relay has; a fresh client is still served while they are open (before: its
    connection was never accepted)."""
    addr = _address(relay)
    with httpx.Client(timeout=10) as http:
        key = new_client(relay, http)
        signer = enroll(relay, http)
    silent = [socket.create_connection(addr, timeout=5) for _ in range(300)]
    trickling = [socket.create_connection(addr, timeout=5) for _ in range(100)]
    trickle = _Trickle(trickling, 0.2)
    try:
        with httpx.Client(timeout=5) as http:
            r = http.post(
                f"{relay.url}/v1/proofs/verify",
                content=sign(signer).to_json(),
                headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
            )
        assert r.status_code == 200 and r.json()["valid"] is True, r.text
    finally:
        trickle.close()
        for sock in silent:
            sock.close()
    with httpx.Client(timeout=5) as http:  # and afterwards
        assert http.get(f"{relay.url}/healthz").status_code == 200
    assert "unable to open database file" not in relay.stderr_path.read_text()


def test_a_silent_connection_is_closed_after_the_idle_timeout(relay: RelayProcess) -> None:
    with socket.create_connection(_address(relay), timeout=5) as sock:
        started = time.monotonic()
        closed, _ = _closed_by_peer(sock, within=10)
    assert closed
    assert time.monotonic() - started < 6  # idle_timeout_s = 2


def test_a_trickling_head_is_closed_after_the_head_timeout(relay: RelayProcess) -> None:
    """One byte every 0.2 s keeps the idle timer from firing; the head timer fires anyway."""
    sock = socket.create_connection(_address(relay), timeout=5)
    trickle = _Trickle([sock], 0.2)
    try:
        started = time.monotonic()
        closed, answer = _closed_by_peer(sock, within=15)
        elapsed = time.monotonic() - started
    finally:
        trickle.close()
    assert closed, "the relay kept a head that never completes"
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert 2.5 < elapsed < 8  # head_timeout_s = 3


def test_a_kept_alive_connection_gets_the_head_timeout_again(relay: RelayProcess) -> None:
    """After an answer, the next head has head_timeout_s again: a client reusing its
    connection is served, and a trickle after an answer is cut off like a new one."""
    with socket.create_connection(_address(relay), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n")
            assert read_answer(sock)[0] == 200
        trickle = _Trickle([sock], 0.2)
        try:
            closed, answer = _closed_by_peer(sock, within=15)
        finally:
            trickle.stop.set()
            trickle.thread.join()
    assert closed and answer.startswith(b"HTTP/1.1 408 "), answer

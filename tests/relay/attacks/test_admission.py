"""Denial of service before authentication (issue 13, high).

Before: the verify endpoints only looked for *some* ``Authorization: Bearer`` header,
then read the whole body (up to 4 MiB), parsed every proof and queued the job; the key
was checked after parsing. 200 concurrent unauthenticated 3.2 MiB uploads took a relay
from 82 MB to 3.5 GB. Now the key is authenticated from the request head alone, failed
authentication is limited per source address, and the body bytes and jobs in progress
are bounded per client and in all (benches/relay/bench_flood.py measures memory and a
legitimate client's latency under the flood).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from ..conftest import RelayProcess, sign, start_relay
from .conftest import enroll, new_client, read_answer

NDJSON = "application/x-ndjson"


def _address(relay: RelayProcess) -> tuple[str, int]:
    host, port = relay.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _send_head(
    relay: RelayProcess, token: str, length: int, path: str = "/v1/proofs/verify-batch"
) -> socket.socket:
    """Opens a connection and sends only a request head announcing ``length`` body bytes."""
    sock = socket.create_connection(_address(relay), timeout=5)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {NDJSON}\r\nContent-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def _start(tmp_path_factory: pytest.TempPathFactory, *args: str) -> RelayProcess:
    return start_relay(tmp_path_factory.mktemp("admission") / "data", *args)


@pytest.fixture(scope="module")
def few_failures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    proc = _start(tmp_path_factory, "--auth-failure-limit", "6/minute")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    mib = 1024 * 1024
    proc = _start(
        tmp_path_factory,
        "--max-batch-bytes", str(4 * mib),
        "--max-client-inflight-bytes", str(8 * mib),
        "--max-inflight-bytes", str(12 * mib),
        "--body-timeout-s", "30",
    )  # fmt: skip
    try:
        yield proc
    finally:
        proc.stop()


def test_a_bad_key_is_refused_before_the_body_is_sent(relay: RelayProcess) -> None:
    """The head of a 3.2 MiB upload with a bogus key is answered 401 at once; the body is
    never needed (before: the relay waited for it, then parsed it, then said 401)."""
    for path in ("/v1/proofs/verify-batch", "/v1/proofs/verify"):
        sock = _send_head(relay, "pmk_" + "x" * 43, 3_355_443 if path.endswith("batch") else 60_000, path)
        with sock:
            status, answer = read_answer(sock)
        assert status == 401, answer
        assert b"unauthorized" in answer


def test_failed_authentication_is_limited_per_source(few_failures: RelayProcess) -> None:
    relay = few_failures
    with httpx.Client(timeout=10) as http:
        key = new_client(relay, http)
        good = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        signer = enroll(relay, http)
        # the good key is looked up once (one unit of the source's 6), then remembered
        assert (
            http.post(
                f"{relay.url}/v1/proofs/verify", content=sign(signer).to_json(), headers=good
            ).status_code
            == 200
        )
        answers = []
        for i in range(8):
            bad = {"authorization": f"Bearer pmk_bogus{i:040d}", "content-type": "application/json"}
            answers.append(http.post(f"{relay.url}/v1/proofs/verify", content=b"{}", headers=bad))
        assert [r.status_code for r in answers] == [401] * 5 + [429] * 3
        limited = answers[-1]
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # no key at all costs the same
        bare = http.post(
            f"{relay.url}/v1/proofs/verify", content=b"{}", headers={"content-type": "application/json"}
        )
        assert bare.status_code == 429
        # the flood does not lock out the client that shares its address and was seen before
        ok = http.post(f"{relay.url}/v1/proofs/verify", content=sign(signer).to_json(), headers=good)
        assert ok.status_code == 200 and ok.json()["valid"] is True, ok.text


def test_in_flight_body_bytes_are_bounded_per_client_and_in_all(bounded: RelayProcess) -> None:
    relay = bounded
    mib = 1024 * 1024
    with httpx.Client(timeout=10) as http:
        a, b = new_client(relay, http), new_client(relay, http)
        signer = enroll(relay, http)
        for key in (a, b):  # each key works
            r = http.post(
                f"{relay.url}/v1/proofs/verify",
                content=sign(signer).to_json(),
                headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
            )
            assert r.status_code == 200, r.text
        held = [_send_head(relay, a, 4 * mib), _send_head(relay, a, 4 * mib)]  # a's 8 MiB share
        try:
            time.sleep(0.5)  # both heads admitted: their bodies are being waited for
            with _send_head(relay, a, 1024) as third:
                status, answer = read_answer(third)
            assert status == 429 and b"rate_limited" in answer and b"retry-after: 1" in answer.lower()
            held.append(_send_head(relay, b, 4 * mib))  # 12 MiB reserved: the relay's bound
            time.sleep(0.5)
            with _send_head(relay, b, 1024) as over:
                status, answer = read_answer(over)
            assert status == 503 and b"overloaded" in answer and b"retry-after: 1" in answer.lower()
        finally:
            for sock in held:
                sock.close()
        # the held uploads ended (disconnected): their reservations are back
        auth = {"authorization": f"Bearer {b}", "content-type": NDJSON}
        deadline = time.monotonic() + 10
        while True:
            r = http.post(f"{relay.url}/v1/proofs/verify-batch", content=sign(signer).to_json(), headers=auth)
            if r.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 200 and r.json()["valid"] == 1, r.text


def test_a_revoked_key_is_refused_before_its_body_once_the_engine_refused_it(relay: RelayProcess) -> None:
    """Admission remembers keys in use; the engine, which authenticates every group against
    the store, refuses a revoked one at once, and admission then forgets it."""
    with httpx.Client(timeout=10) as http:
        r = http.post(
            f"{relay.url}/v1/admin/clients",
            json={"name": "c", "audience": "payments-api"},
            headers=relay.admin,
        )
        client_id, key = r.json()["id"], r.json()["apiKey"]
        signer = enroll(relay, http)
        auth = {"authorization": f"Bearer {key}", "content-type": "application/json"}
        assert (
            http.post(
                f"{relay.url}/v1/proofs/verify", content=sign(signer).to_json(), headers=auth
            ).status_code
            == 200
        )
        r = http.post(f"{relay.url}/v1/admin/clients/{client_id}/revoke", headers=relay.admin)
        assert r.status_code == 200, r.text
        refused = http.post(f"{relay.url}/v1/proofs/verify", content=sign(signer).to_json(), headers=auth)
        assert refused.status_code == 401, refused.text
    with _send_head(relay, key, 60_000, "/v1/proofs/verify") as sock:  # no body: answered from the head
        status, answer = read_answer(sock)
    assert status == 401, answer

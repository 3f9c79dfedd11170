"""One relay process per module of attacks (starting one costs about a second)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import proof_messenger as pm
import pytest

from ..conftest import RelayProcess, start_relay


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    data: Path = tmp_path_factory.mktemp("attacks") / "data"
    proc = start_relay(data, "--webauthn-rp-id", "localhost", "--webauthn-origins", "http://localhost:8787")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def new_client(relay: RelayProcess, http: httpx.Client, audience: str = "payments-api") -> str:
    """A fresh API client's key."""
    r = http.post(
        f"{relay.url}/v1/admin/clients", json={"name": "c", "audience": audience}, headers=relay.admin
    )
    assert r.status_code == 201, r.text
    return str(r.json()["apiKey"])


def enroll(relay: RelayProcess, http: httpx.Client, subject: str = "alice") -> pm.SigningKey:
    """A fresh key, enrolled for ``subject``."""
    key = pm.SigningKey.generate()
    r = http.post(
        f"{relay.url}/v1/admin/keys",
        json={"subject": subject, "publicKey": key.verifying_key.to_base64()},
        headers=relay.admin,
    )
    assert r.status_code == 201, r.text
    return key


def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """The status and the raw answer the relay sent (it must answer within the timeout)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data) < _answer_length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]), data


def _answer_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(head) + 4

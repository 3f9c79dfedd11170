"""False clone alerts from replayed WebAuthn assertions (issue 13, low).

Before: the counter check ran before the nonce check, so resending an accepted assertion
(which any API client can do) was logged as a cloned authenticator. Now a proof refused
for its counter offers its nonce to the replay store: a nonce used before is reported as
a replay, and only a fresh nonce signed with an old counter raises the clone alert.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import httpx
import proof_messenger as pm
import pytest
from proof_messenger.relay.stores.credentials import b64url_decode
from test_webauthn_authenticator import AUDIENCE, ORIGIN, RP_ID, Authenticator, b64url

from ..conftest import RelayProcess, start_relay
from .conftest import new_client


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    data = tmp_path_factory.mktemp("webauthn-alert") / "data"
    proc = start_relay(data, "--webauthn-rp-id", RP_ID, "--webauthn-origins", ORIGIN)
    try:
        yield proc
    finally:
        proc.stop()


def _register(relay: RelayProcess, http: httpx.Client, auth: Authenticator) -> None:
    r = http.post(
        f"{relay.url}/v1/webauthn/registrations/challenge", json={"subject": "alice"}, headers=relay.admin
    )
    assert r.status_code == 201, r.text
    challenge = r.json()["challenge"]
    att, cdj = auth.registration(b64url_decode(challenge))
    r = http.post(
        f"{relay.url}/v1/webauthn/registrations",
        json={"challenge": challenge, "attestationObject": b64url(att), "clientDataJSON": b64url(cdj)},
        headers=relay.admin,
    )
    assert r.status_code == 201, r.text


def _assertion(auth: Authenticator, count: int) -> bytes:
    nonce = b64url(secrets.token_bytes(16))
    return json.dumps(auth.proof(timestamp_ms=pm.now_ms() - 100, nonce=nonce, count=count)).encode()


def _alerts(relay: RelayProcess, kind: str, want: int) -> list[str]:
    """The relay's counter alerts of ``kind``, waiting briefly for ``want`` of them."""
    deadline = time.monotonic() + 5
    while True:
        lines = [
            line
            for line in relay.stderr_path.read_text().splitlines()
            if f"ALERT webauthn counter_not_increasing {kind}" in line
        ]
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_a_resent_assertion_is_a_replay_not_a_clone(relay: RelayProcess) -> None:
    auth = Authenticator("ES256", seed=31)
    with httpx.Client(timeout=10) as http:
        _register(relay, http, auth)
        client = new_client(relay, http, audience=AUDIENCE)
        headers = {"authorization": f"Bearer {client}", "content-type": "application/json"}
        good = _assertion(auth, 5)
        assert http.post(f"{relay.url}/v1/proofs/verify", content=good, headers=headers).json()["valid"]
        for _ in range(3):  # an API client resends it
            v = http.post(f"{relay.url}/v1/proofs/verify", content=good, headers=headers).json()
            assert (v["valid"], v["code"]) == (False, "counter_not_increasing"), v
        assert len(_alerts(relay, "replayed", 3)) == 3
        assert _alerts(relay, "cloned", 0) == []  # no false clone alert
        # a fresh nonce signed with an old counter is what a clone produces
        v = http.post(f"{relay.url}/v1/proofs/verify", content=_assertion(auth, 4), headers=headers).json()
        assert (v["valid"], v["code"]) == (False, "counter_not_increasing"), v
        cloned = _alerts(relay, "cloned", 1)
        assert len(cloned) == 1 and "subject=alice" in cloned[0]
        assert "ACME" not in cloned[0] and "amount" not in cloned[0]  # never the context

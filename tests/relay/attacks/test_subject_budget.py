"""One API client can lock any user out (issue 13, medium).

Before: the per-subject limit was keyed by ``context.subject`` alone and charged before
the key, audience and signature were checked. A client bound to audience "marketing"
sent 60 junk proofs naming "alice" signed by a throwaway key, and alice's next valid
proof through the payments client got 429. Now a proof spends a subject's budget only
when its key is one the subject holds, and the budget is the pair (API client, subject).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import proof_messenger as pm
import pytest

from ..conftest import RelayProcess, sign, start_relay
from .conftest import enroll, new_client

LIMIT = 5


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    data = tmp_path_factory.mktemp("subject-budget") / "data"
    proc = start_relay(data, "--rate-limit-subject", f"{LIMIT}/minute")
    try:
        yield proc
    finally:
        proc.stop()


def _verify(http: httpx.Client, relay: RelayProcess, key: str, proof: bytes) -> httpx.Response:
    return http.post(
        f"{relay.url}/v1/proofs/verify",
        content=proof,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )


def _bad_signature(proof: pm.Proof) -> bytes:
    """The proof with its signature's first byte changed: alice's key, not alice's signature."""
    doc = json.loads(proof.to_json())
    sig = bytearray(base64.b64decode(doc["signature"]))
    sig[0] ^= 1
    doc["signature"] = base64.b64encode(bytes(sig)).decode()
    return json.dumps(doc).encode()


def test_junk_proofs_naming_a_user_do_not_lock_her_out(relay: RelayProcess) -> None:
    with httpx.Client(timeout=10) as http:
        payments, marketing = new_client(relay, http), new_client(relay, http, audience="marketing")
        alice = enroll(relay, http, "alice-1")
        throwaway = pm.SigningKey.generate()
        for _ in range(4 * LIMIT):  # a throwaway key: never trusted for alice, spends nothing
            r = _verify(http, relay, marketing, sign(throwaway, "alice-1", audience="marketing").to_json())
            assert r.status_code == 200 and r.json()["code"] == "untrusted_key", r.text
        r = _verify(http, relay, payments, sign(alice, "alice-1").to_json())
        assert r.status_code == 200 and r.json()["valid"] is True, r.text


def test_one_client_cannot_spend_another_clients_budget(relay: RelayProcess) -> None:
    """Proofs under alice's real key with broken signatures (what a proxy that saw one of
    her proofs can make) spend marketing's budget for alice, not payments'."""
    with httpx.Client(timeout=10) as http:
        payments, marketing = new_client(relay, http), new_client(relay, http, audience="marketing")
        alice = enroll(relay, http, "alice-2")
        codes = [
            _verify(http, relay, marketing, _bad_signature(sign(alice, "alice-2", audience="marketing")))
            for _ in range(LIMIT + 2)
        ]
        assert [r.status_code for r in codes] == [200] * LIMIT + [429] * 2  # its own budget: spent
        assert codes[0].json()["code"] == "bad_signature"
        for _ in range(LIMIT):  # payments' budget for alice is whole
            r = _verify(http, relay, payments, sign(alice, "alice-2").to_json())
            assert r.status_code == 200 and r.json()["valid"] is True, r.text
        r = _verify(http, relay, payments, sign(alice, "alice-2").to_json())
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited", r.text

"""WebAuthn in the relay: registration ceremony, verification, counters, replay.

Uses the software authenticator of tests/test_webauthn_authenticator.py."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import proof_messenger as pm
import pytest
from proof_messenger.relay.stores.credentials import WebAuthnStore, b64url_decode
from proof_messenger.relay.stores.db import SqliteDatabase
from test_webauthn_authenticator import AUDIENCE, CONTEXT, ORIGIN, RP_ID, Authenticator, b64url

from .conftest import RelayHarness

pytestmark = pytest.mark.anyio
WA = {"webauthn_rp_id": RP_ID, "webauthn_origins": ORIGIN}


@pytest.fixture
async def wh(make_harness: Callable[..., Any]) -> AsyncIterator[RelayHarness]:
    async with make_harness(**WA) as harness:
        yield harness


async def register(h: RelayHarness, auth: Authenticator, subject: str = "alice", **kw: Any) -> Any:
    r = await h.http.post("/v1/webauthn/registrations/challenge", json={"subject": subject}, headers=h.admin)
    assert r.status_code == 201, r.text
    options = r.json()
    challenge = b64url_decode(options["challenge"])
    att, cdj = auth.registration(challenge, **kw)
    return await h.http.post(
        "/v1/webauthn/registrations",
        json={
            "challenge": options["challenge"],
            "attestationObject": b64url(att),
            "clientDataJSON": b64url(cdj),
            "transports": ["internal"],
        },
        headers=h.admin,
    )


def proof(auth: Authenticator, count: int, **kw: Any) -> bytes:
    p = auth.proof(
        timestamp_ms=pm.now_ms() - 100,
        nonce=b64url(secrets.token_bytes(16)),
        count=count,
        **kw,
    )
    return json.dumps(p).encode()


async def test_registration_challenge_options(wh: RelayHarness) -> None:
    r = await wh.http.post(
        "/v1/webauthn/registrations/challenge", json={"subject": "alice"}, headers=wh.admin
    )
    assert r.status_code == 201, r.text
    o = r.json()
    assert len(b64url_decode(o["challenge"])) >= 16 and o["expiresAt"] > pm.now_ms()
    pk = o["publicKey"]
    assert pk["rp"]["id"] == RP_ID and pk["attestation"] == "none"
    assert [p["alg"] for p in pk["pubKeyCredParams"]] == [-7, -8, -257]
    assert pk["user"]["name"] == "alice" and len(b64url_decode(pk["user"]["id"])) == 32
    assert pk["authenticatorSelection"]["userVerification"] == "required"


async def test_registration_needs_admin(wh: RelayHarness) -> None:
    r = await wh.http.post("/v1/webauthn/registrations/challenge", json={"subject": "alice"})
    assert r.status_code == 401
    r = await wh.http.post("/v1/webauthn/registrations", json={})
    assert r.status_code == 401


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
async def test_register_and_verify(wh: RelayHarness, alg: str) -> None:
    auth = Authenticator(alg, seed=7)
    r = await register(wh, auth, fmt="packed" if alg == "ES256" else "none")
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["subject"] == "alice" and rec["credentialId"] == b64url(auth.credential_id)
    assert rec["signCount"] == 0 and rec["transports"] == ["internal"] and rec["aaguid"] == "00" * 16
    assert b64url_decode(rec["publicKey"]) == auth.cose_key()
    client = await wh.new_client(AUDIENCE)
    r = await wh.verify(proof(auth, 3), client)
    v = r.json()
    assert (v["valid"], v["code"], v["keyId"]) == (True, None, b64url(auth.credential_id)), v
    assert v["context"] == CONTEXT
    store: WebAuthnStore = wh.app.relay.credentials
    assert store.get(auth.credential_id).sign_count == 3  # type: ignore[union-attr]


async def test_duplicate_credential_refused(wh: RelayHarness) -> None:
    auth = Authenticator("ES256", seed=8)
    assert (await register(wh, auth)).status_code == 201
    r = await register(wh, auth, subject="bob")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_enrolled"


async def test_registration_failures(wh: RelayHarness) -> None:
    auth = Authenticator("ES256", seed=9)
    r = await register(wh, auth, origin="https://evil.example")
    assert r.status_code == 400 and r.json()["error"]["code"] == "origin_not_allowed"
    r = await register(wh, auth, flags=0x41)  # UP, AT, no UV
    assert r.status_code == 400 and r.json()["error"]["code"] == "user_not_verified"
    # a challenge the relay never issued
    att, cdj = auth.registration(b"\x01" * 32)
    r = await wh.http.post(
        "/v1/webauthn/registrations",
        json={
            "challenge": b64url(b"\x01" * 32),
            "attestationObject": b64url(att),
            "clientDataJSON": b64url(cdj),
        },
        headers=wh.admin,
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "challenge_unknown"


async def test_challenge_is_single_use(wh: RelayHarness) -> None:
    auth = Authenticator("EdDSA", seed=10)
    r = await wh.http.post(
        "/v1/webauthn/registrations/challenge", json={"subject": "alice"}, headers=wh.admin
    )
    ch = r.json()["challenge"]
    att, cdj = auth.registration(b64url_decode(ch))
    body = {"challenge": ch, "attestationObject": b64url(att), "clientDataJSON": b64url(cdj)}
    assert (await wh.http.post("/v1/webauthn/registrations", json=body, headers=wh.admin)).status_code == 201
    r = await wh.http.post("/v1/webauthn/registrations", json=body, headers=wh.admin)
    assert r.status_code == 400 and r.json()["error"]["code"] == "challenge_unknown"


async def test_tampered_replayed_and_counter(wh: RelayHarness, caplog: pytest.LogCaptureFixture) -> None:
    auth = Authenticator("ES256", seed=11)
    assert (await register(wh, auth)).status_code == 201
    client = await wh.new_client(AUDIENCE)
    good = proof(auth, 5)
    assert (await wh.verify(good, client)).json()["valid"] is True
    # replay of the same assertion: the counter is not above the stored one any more
    v = (await wh.verify(good, client)).json()
    assert (v["valid"], v["code"]) == (False, "counter_not_increasing")
    # context altered in transit
    altered = json.loads(proof(auth, 6))
    altered["context"]["amount"] = "99999.00"
    v = (await wh.verify(json.dumps(altered).encode(), client)).json()
    assert v["valid"] is False and v["code"] == "challenge_mismatch"
    # counter going backwards
    with caplog.at_level(logging.WARNING, logger="proof_messenger.relay.webauthn"):
        v = (await wh.verify(proof(auth, 4), client)).json()
    assert (v["valid"], v["code"]) == (False, "counter_not_increasing")
    assert "ALERT webauthn counter_not_increasing" in caplog.text
    store: WebAuthnStore = wh.app.relay.credentials
    assert store.get(auth.credential_id).sign_count == 5  # type: ignore[union-attr]


async def test_nonce_replay_with_counterless_authenticator(wh: RelayHarness) -> None:
    auth = Authenticator("EdDSA", seed=12)
    assert (await register(wh, auth)).status_code == 201
    client = await wh.new_client(AUDIENCE)
    p = proof(auth, 0)  # authenticators without a counter always report 0
    assert (await wh.verify(p, client)).json()["valid"] is True
    v = (await wh.verify(p, client)).json()
    assert (v["valid"], v["code"]) == (False, "nonce_replayed")


async def test_batch_same_credential_counters(wh: RelayHarness) -> None:
    auth = Authenticator("ES256", seed=13)
    assert (await register(wh, auth)).status_code == 201
    client = await wh.new_client(AUDIENCE)
    # both pass the core (stored counter 0); the second loses the atomic update
    r = await wh.verify_batch([proof(auth, 9), proof(auth, 8)], client)
    got = [(x["valid"], x["code"]) for x in r.json()["results"]]
    assert got == [(True, None), (False, "counter_not_increasing")]


async def test_unknown_credential_and_unconfigured(make_harness: Callable[..., Any]) -> None:
    auth = Authenticator("ES256", seed=14)
    async with make_harness(**WA) as h:
        client = await h.new_client(AUDIENCE)
        v = (await h.verify(proof(auth, 1), client)).json()
        assert v["code"] == "untrusted_key"
    async with make_harness() as h:
        client = await h.new_client(AUDIENCE)
        v = (await h.verify(proof(auth, 1), client)).json()
        assert v["code"] == "unsupported_algorithm"
        r = await h.http.post("/v1/webauthn/registrations/challenge", json={"subject": "a"}, headers=h.admin)
        assert r.status_code == 400


def test_store_counter_is_atomic_and_monotonic() -> None:
    store = WebAuthnStore(SqliteDatabase(":memory:"))
    store.add("alice", b"c1", b"k", sign_count=10, now_ms=1)
    assert not store.raise_sign_count(b"c1", 10)
    assert not store.raise_sign_count(b"c1", 9)
    assert store.raise_sign_count(b"c1", 11)
    assert store.get(b"c1").sign_count == 11  # type: ignore[union-attr]
    store.set_sign_count(b"c1", 100)
    assert not store.raise_sign_count(b"c1", 12)


async def test_mixed_batch_ed25519_and_webauthn(wh: RelayHarness) -> None:
    auth = Authenticator("EdDSA", seed=15)
    assert (await register(wh, auth)).status_code == 201
    key, _ = await wh.enroll("alice")
    client = await wh.new_client(AUDIENCE)
    ed = pm.sign(CONTEXT, key, audience=AUDIENCE, timestamp_ms=pm.now_ms())
    r = await wh.verify_batch([proof(auth, 2), ed, proof(auth, 1)], client)
    got = [(x["valid"], x["code"]) for x in r.json()["results"]]
    assert got == [(True, None), (True, None), (False, "counter_not_increasing")]


async def test_admin_lists_and_revokes_credentials(wh: RelayHarness) -> None:
    auth = Authenticator("ES256", seed=21)
    assert (await register(wh, auth, subject="carol")).status_code == 201
    client = await wh.new_client(AUDIENCE)

    r = await wh.http.get("/v1/webauthn/credentials", params={"subject": "carol"}, headers=wh.admin)
    assert r.status_code == 200, r.text
    assert [c["credentialId"] for c in r.json()["credentials"]] == [b64url(auth.credential_id)]
    assert (await wh.http.get("/v1/webauthn/credentials")).status_code == 401

    carol = {**CONTEXT, "subject": "carol"}
    v = (await wh.verify(proof(auth, 4, context=carol), client)).json()
    assert (v["valid"], v["code"]) == (True, None), v

    cid = b64url(auth.credential_id)
    r = await wh.http.post(f"/v1/webauthn/credentials/{cid}/revoke", headers=wh.admin)
    assert r.status_code == 200 and r.json()["revokedAt"] is not None, r.text
    # Revocation takes effect on the next verification.
    v = (await wh.verify(proof(auth, 5, context=carol), client)).json()
    assert (v["valid"], v["code"]) == (False, "untrusted_key"), v

    r = await wh.http.post(f"/v1/webauthn/credentials/{b64url(b'nope' * 4)}/revoke", headers=wh.admin)
    assert r.status_code == 404
    r = await wh.http.post("/v1/webauthn/credentials/not=base64/revoke", headers=wh.admin)
    assert r.status_code == 400

"""The HTTP API end to end, in process (httpx.ASGITransport), with the real core."""

from __future__ import annotations

import json
import logging

import proof_messenger as pm
import pytest
from proof_messenger.relay import errors

from .conftest import RelayHarness, audit_entries, sign

pytestmark = pytest.mark.anyio


async def test_valid_proof_then_replay(h: RelayHarness) -> None:
    client = await h.new_client()
    key, enrollment = await h.enroll("alice")
    proof = sign(key)
    r = await h.verify(proof, client)
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["valid"] is True and v["code"] is None
    assert v["context"] == proof.context and v["subject"] == "alice"
    assert v["keyId"] == key.verifying_key.key_id and v["enrollmentId"] == enrollment["id"]
    assert (
        v["nonce"] == proof.nonce and v["timestamp"] == proof.timestamp_ms and v["audience"] == "payments-api"
    )
    assert v["receiptId"].startswith("rcpt_") and v["receiptId"] == v["receipt"]["receiptId"]
    assert v["receipt"]["index"] == 0 and "entry" not in v["receipt"]  # compact by default
    assert v["receipt"]["checkpoint"].startswith(v["receipt"]["origin"] + "\n")  # signed, covering it
    r2 = await h.verify(proof, client)
    assert r2.status_code == 200
    assert (r2.json()["valid"], r2.json()["code"], r2.json()["context"]) == (False, "nonce_replayed", None)
    # the signature held: the refusal names the replay, and the key's enrollment
    assert r2.json()["detail"] == "this nonce was already accepted once"
    assert r2.json()["enrollmentId"] == enrollment["id"]
    assert r2.json()["receipt"]["index"] == 1
    assert len(audit_entries(h.relay.config.data_dir)) == 2


async def test_unknown_key_is_never_trusted(h: RelayHarness) -> None:
    client = await h.new_client()
    await h.enroll("alice")
    stranger = pm.SigningKey.generate()  # valid signature, key not enrolled for alice
    v = (await h.verify(sign(stranger), client)).json()
    assert (v["valid"], v["code"], v["context"]) == (False, "untrusted_key", None)
    # a key enrolled for bob does not sign for alice
    bob_key, _ = await h.enroll("bob")
    assert (await h.verify(sign(bob_key, subject="alice"), client)).json()["code"] == "untrusted_key"


async def test_revocation_takes_effect_on_next_request(h: RelayHarness) -> None:
    client = await h.new_client()
    key, enrollment = await h.enroll("alice")
    assert (await h.verify(sign(key), client)).json()["valid"] is True
    r = await h.http.post(f"/v1/admin/keys/{enrollment['id']}/revoke", headers=h.admin)
    assert r.status_code == 200 and r.json()["revokedAt"] is not None
    assert (await h.verify(sign(key), client)).json()["code"] == "untrusted_key"
    # a revoked API client is refused on its next request
    r = await h.http.post(f"/v1/admin/clients/{client['x-client-id']}/revoke", headers=h.admin)
    assert r.status_code == 200
    r = await h.verify(sign(key), client)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_key_validity_window(h: RelayHarness) -> None:
    client = await h.new_client()
    now = h.clock()
    key, _ = await h.enroll("alice", notBefore=now + 60_000)
    assert (await h.verify(sign(key), client)).json()["code"] == "untrusted_key"
    h.clock.offset_ms = 61_000
    assert (await h.verify(sign(key, timestamp_ms=h.clock()), client)).json()["valid"] is True
    key2, _ = await h.enroll("carol", notAfter=h.clock() + 1000)
    h.clock.offset_ms += 2000
    assert (await h.verify(sign(key2, subject="carol", timestamp_ms=h.clock()), client)).json()[
        "code"
    ] == "untrusted_key"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda k, now: sign(k, audience="other-api"), "audience_mismatch"),
        (lambda k, now: sign(k, timestamp_ms=now - 301_000), "proof_expired"),
        (lambda k, now: sign(k, timestamp_ms=now + 31_000), "timestamp_in_future"),
        (lambda k, now: sign(k, subject=None), "missing_subject"),
    ],
)
async def test_policy_failures_are_verdicts(h: RelayHarness, make, code: str) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    r = await h.verify(make(key, h.clock()), client)
    assert r.status_code == 200 and r.json()["valid"] is False and r.json()["code"] == code
    assert r.json()["receiptId"]


async def test_tampered_amount_is_bad_signature(h: RelayHarness) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    wire = json.loads(sign(key, context={"amount": "100.00"}).to_json())
    wire["context"]["amount"] = "100000.00"
    v = (await h.verify(json.dumps(wire).encode(), client)).json()
    assert (v["valid"], v["code"], v["context"]) == (False, "bad_signature", None)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", "invalid_json"),
        (b"[]", "invalid_type"),
        (b'{"version":1}', "missing_field"),
        (b'{"a":1,"a":2}', "duplicate_key"),
        (b"\xff\xfe", "invalid_utf8"),
        (b"[" * 40 + b"]" * 40, "nesting_too_deep"),
    ],
)
async def test_malformed_proof_is_400_with_core_code(h: RelayHarness, body: bytes, code: str) -> None:
    client = await h.new_client()
    r = await h.verify(body, client)
    assert r.status_code == 400 and r.json()["error"]["code"] == code


async def test_algorithm_allowlist(h: RelayHarness) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    wire = json.loads(sign(key).to_json())
    wire["algorithm"] = "none"
    r = await h.verify(json.dumps(wire).encode(), client)
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_algorithm"


async def test_authentication(h: RelayHarness) -> None:
    key, _ = await h.enroll("alice")
    proof = sign(key)
    for headers in ({}, {"authorization": "Bearer pmk_wrong"}, {"authorization": "Basic abc"}, h.admin):
        r = await h.verify(proof, headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")
    client = await h.new_client()
    for path, method in (
        ("/v1/admin/keys", "GET"),
        ("/v1/admin/clients", "GET"),
        ("/v1/admin/clients", "POST"),
    ):
        for headers in ({}, client):  # an API key is not an admin token
            r = await h.http.request(method, path, headers=headers, json={"name": "x", "audience": "y"})
            assert r.status_code == 401, (path, headers)
    # the nonce was not consumed by the refused requests
    assert (await h.verify(proof, client)).json()["valid"] is True


async def test_client_is_bound_to_its_audience(h: RelayHarness) -> None:
    payments = await h.new_client("payments-api")
    marketing = await h.new_client("marketing-api")
    key, _ = await h.enroll("alice")
    proof = sign(key)
    assert (await h.verify(proof, marketing)).json()["code"] == "audience_mismatch"
    assert (await h.verify(proof, payments)).json()["valid"] is True


async def test_challenge_flow(make_harness) -> None:
    async with make_harness(require_challenge=True) as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        r = await h.http.post("/v1/challenges", json={"subject": "alice"}, headers=client)
        assert r.status_code == 201
        ch = r.json()
        assert ch["audience"] == "payments-api" and ch["expiresAt"] > h.clock()
        # a proof with a client-chosen nonce is refused when challenges are required
        assert (await h.verify(sign(key), client)).json()["code"] == "challenge_unknown"
        # the challenge binds the subject
        mallory, _ = await h.enroll("mallory")
        v = (await h.verify(sign(mallory, subject="mallory", nonce=ch["nonce"]), client)).json()
        assert v["code"] == "challenge_binding_mismatch"
        good = sign(key, nonce=ch["nonce"])
        assert (await h.verify(good, client)).json()["valid"] is True
        assert (await h.verify(good, client)).json()["code"] == "nonce_replayed"
        # expiry
        ch2 = (
            await h.http.post("/v1/challenges", json={"subject": "alice", "ttlMs": 1000}, headers=client)
        ).json()
        h.clock.offset_ms = 2000
        v = (await h.verify(sign(key, nonce=ch2["nonce"], timestamp_ms=h.clock()), client)).json()
        assert v["code"] == "challenge_expired"
        # bad challenge requests
        for body in (
            {},
            {"subject": ""},
            {"subject": "a", "ttlMs": 5},
            {"subject": "a", "extra": 1},
            {"subject": 5},
        ):
            r = await h.http.post("/v1/challenges", json=body, headers=client)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", body
        assert (await h.http.post("/v1/challenges", json={"subject": "a"})).status_code == 401


async def test_batch_verdicts_in_order(h: RelayHarness) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    bob, _ = await h.enroll("bob")
    good = sign(key)
    stranger = pm.SigningKey.generate()
    items = [good, good, b"not json", sign(stranger), sign(bob, subject="bob"), sign(key, audience="x")]
    r = await h.verify_batch(items, client)
    assert r.status_code == 200, r.text
    body = r.json()
    codes = [v["code"] for v in body["results"]]
    assert codes == [None, "nonce_replayed", "invalid_json", "untrusted_key", None, "audience_mismatch"]
    assert (body["valid"], body["invalid"]) == (2, 4)
    receipts = [v["receiptId"] for v in body["results"]]
    assert len(set(receipts)) == 6 and all(receipts)


async def test_batch_uses_verify_batch_for_many(h: RelayHarness) -> None:
    client = await h.new_client()
    keys = [(await h.enroll(f"user{i}"))[0] for i in range(20)]
    proofs = [sign(keys[i % 20], subject=f"user{i % 20}") for i in range(200)]
    proofs[57] = sign(keys[0], subject="user1")  # wrong key for the subject
    r = await h.verify_batch(proofs, client)
    results = r.json()["results"]
    assert r.json()["valid"] == 199 and results[57]["code"] == "untrusted_key"


async def test_batch_limits(make_harness) -> None:
    async with make_harness(max_batch_count=3) as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        r = await h.verify_batch([sign(key) for _ in range(4)], client)
        assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"
        r = await h.http.post(
            "/v1/proofs/verify-batch",
            content=b"\n\n",
            headers={**client, "content-type": "application/x-ndjson"},
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
        r = await h.verify_batch([sign(key) for _ in range(3)], client)
        assert r.json()["valid"] == 3


async def test_batch_lines_and_results_correspond(make_harness) -> None:
    """A result per line, in order: a blank line in the middle is refused (skipping it
    would shift every later result against its line); one final newline is fine."""
    async with make_harness() as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        headers = {**client, "content-type": "application/x-ndjson"}
        a, b = sign(key).to_json(), sign(key).to_json()
        for body, line in ((a + b"\n\n" + b, 2), (a + b"\n \n" + b + b"\n", 2), (b"\n" + a, 1)):
            r = await h.http.post("/v1/proofs/verify-batch", content=body, headers=headers)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", r.text
            assert f"line {line} is blank" in r.json()["error"]["detail"]
        for end in (b"", b"\n"):
            body = sign(key).to_json() + b"\n" + sign(key).to_json() + end
            r = await h.http.post("/v1/proofs/verify-batch", content=body, headers=headers)
            assert r.status_code == 200 and r.json()["valid"] == 2, r.text
            assert len(r.json()["results"]) == 2


async def test_rate_limits_429_with_retry_after(make_harness) -> None:
    async with make_harness(rate_limit_client="3/minute", rate_limit_subject="100/minute") as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        for _ in range(3):
            assert (await h.verify(sign(key), client)).status_code == 200
        r = await h.verify(sign(key), client)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(r.headers["retry-after"]) <= 60
        other = await h.new_client()  # limits are per client
        assert (await h.verify(sign(key), other)).status_code == 200
        # a batch costs one unit per proof: two of three spent, a batch of two is over
        third = await h.new_client()
        r = await h.verify_batch([sign(key) for _ in range(2)], third)
        assert r.status_code == 200
        r = await h.verify_batch([sign(key) for _ in range(2)], third)
        assert r.status_code == 429 and "retry-after" in r.headers
        # a batch over the whole budget can never pass: not a 429 (tests/relay/attacks)
        r = await h.verify_batch([sign(key) for _ in range(4)], await h.new_client())
        assert r.status_code == 413 and r.json()["error"]["code"] == "batch_too_large"
        metrics = (await h.http.get("/metrics")).text
        assert 'proof_messenger_rate_limit_rejections_total{scope="client"} 2.0' in metrics


async def test_subject_rate_limit(make_harness) -> None:
    async with make_harness(rate_limit_subject="2/minute") as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        bob, _ = await h.enroll("bob")
        assert (await h.verify(sign(key), client)).status_code == 200
        assert (await h.verify(sign(key), client)).status_code == 200
        r = await h.verify(sign(key), client)
        assert r.status_code == 429 and "retry-after" in r.headers
        assert (await h.verify(sign(bob, subject="bob"), client)).status_code == 200
        # in a batch, an over-limit subject is that item's verdict
        r = await h.verify_batch([sign(bob, subject="bob"), sign(key)], client)
        assert [v["code"] for v in r.json()["results"]] == [None, "rate_limited"]


async def test_decision_events(make_harness, caplog: pytest.LogCaptureFixture) -> None:
    async with make_harness(log_context=False) as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        caplog.set_level(logging.INFO, logger="proof_messenger.decisions")
        proof = sign(key, context={"iban": "DE-SECRET-IBAN"})
        await h.verify(proof, client)
        await h.verify(proof, client)
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "proof_messenger.decisions"]
        assert [e["outcome"] for e in lines] == ["success", "failure"]
        assert lines[1]["code"] == "nonce_replayed" and lines[0]["subject"] == "alice"
        assert lines[0]["client"] == client["x-client-id"] and lines[0]["receiptId"]
        assert lines[0]["ts"].endswith("Z") and lines[0]["requestId"]
        text = "\n".join(r.getMessage() for r in caplog.records)
        secret_bearer = client["authorization"].split()[1]
        for secret in (
            secret_bearer,
            h.relay.admin_token,
            "DE-SECRET-IBAN",
            json.loads(proof.to_json())["signature"],
        ):
            assert secret not in text
    caplog.clear()
    async with make_harness(log_context=True) as h:
        client = await h.new_client()
        key, _ = await h.enroll("alice")
        await h.verify(sign(key, context={"iban": "DE-SECRET-IBAN"}), client)
        event = json.loads(
            [r for r in caplog.records if r.name == "proof_messenger.decisions"][-1].getMessage()
        )
        assert event["context"]["iban"] == "DE-SECRET-IBAN"


async def test_metrics(h: RelayHarness) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    proof = sign(key)
    await h.verify(proof, client)
    await h.verify(proof, client)
    await h.verify(b"{", client)
    text = (await h.http.get("/metrics")).text
    assert 'proof_messenger_verifications_total{reason="ok",result="valid"} 1.0' in text
    assert 'proof_messenger_verifications_total{reason="nonce_replayed",result="invalid"} 1.0' in text
    assert 'proof_messenger_rejected_requests_total{code="invalid_json"} 1.0' in text
    assert (
        'proof_messenger_http_requests_total{method="POST",route="/v1/proofs/verify",status="200"} 2.0'
        in text
    )
    assert "proof_messenger_http_request_duration_seconds_bucket" in text


async def test_admin_keys_api(h: RelayHarness) -> None:
    key = pm.SigningKey.generate()
    vk = key.verifying_key
    r = await h.http.post(
        "/v1/admin/keys",
        json={"subject": "alice", "publicKey": vk.to_pem().decode(), "label": "phone"},
        headers=h.admin,
    )
    assert r.status_code == 201 and r.json()["keyId"] == vk.key_id and r.json()["label"] == "phone"
    dup = await h.http.post(
        "/v1/admin/keys", json={"subject": "alice", "publicKey": vk.to_base64()}, headers=h.admin
    )
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "already_enrolled"
    import base64

    spki = base64.b64encode(vk.to_spki_der()).decode()
    r2 = await h.http.post("/v1/admin/keys", json={"subject": "bob", "publicKey": spki}, headers=h.admin)
    assert r2.status_code == 201 and r2.json()["publicKey"] == vk.to_base64()
    listed = (await h.http.get("/v1/admin/keys", params={"subject": "alice"}, headers=h.admin)).json()["keys"]
    assert [k["id"] for k in listed] == [r.json()["id"]]
    got = await h.http.get(f"/v1/admin/keys/{r.json()['id']}", headers=h.admin)
    assert got.json() == r.json()
    assert (await h.http.get("/v1/admin/keys/key_nope", headers=h.admin)).status_code == 404
    assert (await h.http.post("/v1/admin/keys/key_nope/revoke", headers=h.admin)).status_code == 404
    bad = [
        {"subject": "a", "publicKey": "AAAA"},
        {"subject": "a", "publicKey": base64.b64encode(bytes(32)).decode()},  # small-order point
        {"subject": "", "publicKey": vk.to_base64()},
        {"subject": "a\u0000b", "publicKey": vk.to_base64()},
        {"subject": "a", "publicKey": vk.to_base64(), "notBefore": 10, "notAfter": 5},
        {"subject": "a", "publicKey": vk.to_base64(), "notBefore": "soon"},
    ]
    codes = []
    for body in bad:
        r = await h.http.post("/v1/admin/keys", json=body, headers=h.admin)
        assert r.status_code == 400, body
        codes.append(r.json()["error"]["code"])
    assert codes[0] in ("invalid_public_key", "invalid_base64") and codes[1] == "weak_public_key"
    assert (await h.http.get("/v1/admin/keys", params={"limit": "0"}, headers=h.admin)).status_code == 400


async def test_admin_clients_api(h: RelayHarness) -> None:
    r = await h.http.post("/v1/admin/clients", json={"name": "svc", "audience": "api"}, headers=h.admin)
    assert r.status_code == 201 and r.json()["apiKey"].startswith("pmk_")
    listed = (await h.http.get("/v1/admin/clients", headers=h.admin)).json()["clients"]
    assert [c["id"] for c in listed] == [r.json()["id"]] and "apiKey" not in listed[0]
    assert (await h.http.post("/v1/admin/clients/cli_nope/revoke", headers=h.admin)).status_code == 404


async def test_health_and_openapi(h: RelayHarness) -> None:
    assert (await h.http.get("/healthz")).json() == {"status": "ok"}
    ready = await h.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "registry": "ok",
        "replay": "ok",
        "limits": "ok",
    }
    spec = (await h.http.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for p in (
        "/v1/challenges",
        "/v1/proofs/verify",
        "/v1/proofs/verify-batch",
        "/v1/admin/keys",
        "/v1/admin/keys/{enrollment_id}/revoke",
        "/v1/admin/clients",
        "/v1/admin/clients/{client_id}/revoke",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert p in paths, p
    assert "application/x-ndjson" in paths["/v1/proofs/verify-batch"]["post"]["requestBody"]["content"]
    assert all("422" not in op["responses"] for ops in paths.values() for op in ops.values())
    r = await h.http.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await h.http.delete("/v1/proofs/verify")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_store_failure_is_503_not_500(h: RelayHarness) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    h.relay.db.execute("DROP TABLE pm_nonce_log")  # the nonce store breaks
    r = await h.verify(sign(key), client)
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable"
    assert (await h.http.get("/readyz")).status_code == 503


def test_service_codes_do_not_clash_with_core_codes() -> None:
    overlap = set(errors.SERVICE_CODES) & set(pm.ERROR_CODES)
    assert overlap == set()
    assert errors.NONCE_REPLAYED in pm.ERROR_CODES and errors.INPUT_TOO_LARGE in pm.ERROR_CODES


async def test_every_response_carries_request_id_and_security_headers(h: RelayHarness) -> None:
    """The verify paths bypass the framework; they must still send the same headers."""
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    answers = [
        await h.verify(sign(key), {**client, "x-request-id": "trace-abc.123"}),  # 200, the caller's id
        await h.verify(sign(key), {"authorization": "Bearer nope"}),  # 401 from the hot path
        await h.http.get("/v1/proofs/verify", headers=client),  # 405 from the hot path
        await h.http.get("/healthz"),  # a framework route
        await h.verify(sign(key), {**client, "x-request-id": "bad id\twith tab"}),  # not echoed
    ]
    assert [r.status_code for r in answers] == [200, 401, 405, 200, 200]
    assert answers[0].headers["x-request-id"] == "trace-abc.123"
    ids = [r.headers["x-request-id"] for r in answers]
    assert len(set(ids)) == len(ids) and "\t" not in ids[4]
    for r in answers:
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
    metrics = (await h.http.get("/metrics")).text
    counted = 'proof_messenger_http_requests_total{method="POST",route="/v1/proofs/verify",status='
    assert f'{counted}"200"}} 2.0' in metrics and f'{counted}"401"}} 1.0' in metrics


async def test_readyz_says_what_the_audit_log_does_not_protect_against(make_harness, tmp_path) -> None:
    """Ready either way; without a witness and with the log key in the data directory, a
    holder of the directory can rewrite and re-sign the log, and /readyz says so."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    async with make_harness() as h:
        ready = await h.http.get("/readyz")
        assert ready.status_code == 200
        warnings = ready.json()["warnings"]
        assert len(warnings) == 2
        assert "no audit witness" in warnings[0] and "inside the data directory" in warnings[1]
    key = tmp_path / "secrets" / "log.key"
    key.parent.mkdir()
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    async with make_harness(audit_key_file=key, audit_witness_file=tmp_path / "witness.log") as h:
        ready = await h.http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["warnings"] == []

"""proof_v1.json and canonical_v1.json: every byte and every verdict.

Also recomputes each derived value independently from PROTOCOL.md (hashlib,
struct, rfc8785, PyNaCl: tests/protocol_reference.py) and compares it with
the package, so the vectors, the document and the implementation agree three
ways.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import ed25519_reference as ref
import nacl.signing
import proof_messenger as pm
import protocol_reference as proto
import pytest
import vectors_util as vu

PROOF = vu.load("proof_v1.json")
CASES = PROOF["cases"]
VERDICTS = PROOF["verdicts"]
CANONICAL = vu.load("canonical_v1.json")["cases"]
ERROR_CODES = set(pm.ERROR_CODES)


# ------------------------------------------------------------ signed cases


@pytest.mark.parametrize("case", CASES, ids=vu.ids(CASES))
def test_keys(case: dict[str, Any]) -> None:
    sk = pm.SigningKey.from_bytes(bytes.fromhex(case["seed_hex"]))
    vk = sk.verifying_key
    assert vk.to_bytes().hex() == case["public_key_hex"]
    assert vk.to_base64() == case["public_key_b64"]
    assert base64.b64encode(vk.to_spki_der()).decode() == case["public_key_spki_b64"]
    assert vk.key_id == sk.key_id == case["key_id"]
    assert pm.VerifyingKey.from_base64(case["public_key_spki_b64"]) == vk


@pytest.mark.parametrize("case", CASES, ids=vu.ids(CASES))
def test_canonical_context_and_digests(case: dict[str, Any]) -> None:
    canonical = bytes.fromhex(case["canonical_context_hex"])
    assert canonical == case["canonical_context"].encode("utf-8")
    assert pm.canonicalize_json(case["context_json"]) == canonical
    context = json.loads(case["context_json"])
    assert pm.canonicalize(context) == canonical
    assert pm.context_digest(context).hex() == case["context_digest_hex"]
    assert pm.fingerprint(context) == case["fingerprint"]


@pytest.mark.parametrize("case", CASES, ids=vu.ids(CASES))
def test_sign_reproduces_the_proof(case: dict[str, Any]) -> None:
    sk = pm.SigningKey.from_bytes(bytes.fromhex(case["seed_hex"]))
    proof = pm.sign(
        json.loads(case["context_json"]),
        sk,
        audience=case["audience"],
        nonce=case["nonce"],
        timestamp_ms=case["timestamp_ms"],
    )
    assert proof.to_json() == case["proof_json"].encode("utf-8")
    assert proof.signing_payload.hex() == case["payload_hex"]
    assert proof.signed_digest.hex() == case["signed_digest_hex"]
    assert proof.context_digest.hex() == case["context_digest_hex"]
    assert proof.signature.hex() == case["signature_hex"]
    assert proof.key_id == case["key_id"]


@pytest.mark.parametrize("case", CASES, ids=vu.ids(CASES))
def test_parse_reproduces_every_value(case: dict[str, Any]) -> None:
    proof = pm.Proof.from_json(case["proof_json"])
    assert proof.to_json() == case["proof_json"].encode("utf-8")
    assert proof.audience == case["audience"]
    assert proof.nonce == case["nonce"]
    assert proof.timestamp_ms == case["timestamp_ms"]
    assert proof.key_id == case["key_id"]
    assert proof.public_key.to_base64() == case["public_key_b64"]
    assert proof.signature.hex() == case["signature_hex"]
    assert proof.signing_payload.hex() == case["payload_hex"]
    assert proof.signed_digest.hex() == case["signed_digest_hex"]
    assert proof.context_digest.hex() == case["context_digest_hex"]
    assert proof.context == json.loads(case["context_json"])
    assert proof.subject == json.loads(case["context_json"]).get("subject")


@pytest.mark.parametrize("case", CASES, ids=vu.ids(CASES))
def test_independent_recomputation(case: dict[str, Any]) -> None:
    """PROTOCOL sections 2-4 in plain Python give the package's bytes; libsodium verifies."""
    context = json.loads(case["context_json"])
    env = proto.envelope(context, case["audience"], case["timestamp_ms"], case["nonce"])
    proof = pm.Proof.from_json(case["proof_json"])
    assert env["canonical_context"] == pm.canonicalize(context)
    assert env["context_digest"] == proof.context_digest
    assert env["payload"] == proof.signing_payload
    assert env["signed_digest"] == proof.signed_digest
    assert env["fingerprint"] == pm.fingerprint(context)
    raw = proof.public_key.to_bytes()
    assert proto.key_id(raw) == proof.key_id
    nacl.signing.VerifyKey(raw).verify(proof.signed_digest, proof.signature)
    assert ref.verify(raw, proof.signed_digest, proof.signature)
    # The payload layout, field by field (section 4).
    payload = proof.signing_payload
    assert payload.startswith(b"proof-messenger/v1/signing-payload\x00")
    assert len(proto.DST) == 35
    audience = case["audience"].encode()
    nonce = proto.b64url_decode(case["nonce"])
    assert len(payload) == 35 + 2 + 7 + 2 + len(audience) + 8 + 2 + len(nonce) + 32
    assert payload.endswith(proof.context_digest)


# ------------------------------------------------------------ verdicts


@pytest.mark.parametrize("entry", VERDICTS, ids=vu.ids(VERDICTS))
def test_verdict(entry: dict[str, Any]) -> None:
    assert vu.verdict_of(vu.proof_bytes(entry), entry["policy"]) == vu.expected(entry)


@pytest.mark.parametrize(
    "entry",
    [v for v in VERDICTS if v["expected"]["valid"]],
    ids=vu.ids([v for v in VERDICTS if v["expected"]["valid"]]),
)
def test_valid_verdict_result_fields(entry: dict[str, Any]) -> None:
    policy = entry["policy"]
    result = pm.verify(vu.proof_bytes(entry), **vu.policy_keywords(policy))
    proof = proto.loads(vu.proof_bytes(entry))
    assert result.valid and bool(result) and result.code is None and result.detail is None
    assert result.context == proof["context"]
    assert pm.canonicalize(result.context) == proto.canonical(proof["context"])
    assert result.subject == proof["context"].get("subject")
    assert result.audience == proof["audience"] == policy["audience"]
    assert result.nonce == proof["nonce"]
    assert result.timestamp_ms == proof["timestamp"]
    assert result.expires_at_ms == proof["timestamp"] + policy["max_age_ms"]
    raw = pm.VerifyingKey.from_base64(proof["publicKey"]).to_bytes()
    assert result.key_id == proto.key_id(raw)
    env = proto.envelope(proof["context"], proof["audience"], proof["timestamp"], proof["nonce"])
    assert result.context_digest == env["context_digest"]
    assert result.signed_digest == env["signed_digest"]


def _policy_key(entry: dict[str, Any]) -> str:
    return json.dumps(entry["policy"], sort_keys=True)


def test_verdicts_in_batches_equal_single_verdicts() -> None:
    """Entries sharing a policy, verified together with verify_batch, get their own verdicts."""
    groups = itertools.groupby(sorted(VERDICTS, key=_policy_key), key=_policy_key)
    checked = 0
    for _, members in groups:
        members = list(members)
        try:
            keywords = vu.policy_keywords(members[0]["policy"])
        except pm.ProofMessengerError:
            continue  # configuration errors have no batch to run
        results = pm.verify_batch([vu.proof_bytes(m) for m in members], **keywords)
        assert [(r.valid, r.code) for r in results] == [vu.expected(m) for m in members]
        checked += len(members)
    assert checked > len(VERDICTS) // 2


def test_verdicts_cover_every_reachable_code() -> None:
    codes = {v["expected"]["code"] for v in VERDICTS}
    assert codes - {None} == set(vu.V1_CODES) - {"nonce_replayed"}
    assert None in codes
    assert all(v["expected"]["valid"] is (v["expected"]["code"] is None) for v in VERDICTS)


def test_wire_transfer_is_the_protocol_example() -> None:
    (wire,) = [c for c in CASES if c["name"] == "wire_transfer"]
    assert wire["canonical_context"] == (
        '{"action":"wire_transfer","amount":"50000.00","currency":"EUR","subject":"alice","to":"ACME-CORP-ACCOUNT-123"}'
    )
    assert wire["nonce"] == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    assert wire["timestamp_ms"] == 1764331200000
    assert wire["audience"] == "payments-api"


# ------------------------------------------------------------ canonical_v1


def _limits(case: dict[str, Any]) -> dict[str, int]:
    return {"max_bytes": case.get("max_bytes", 65_536), "max_depth": case.get("max_depth", 32)}


@pytest.mark.parametrize("case", CANONICAL, ids=vu.ids(CANONICAL))
def test_canonical_vector(case: dict[str, Any]) -> None:
    data = vu.input_bytes(case)
    if "expected" in case:
        assert pm.canonicalize_json(data, **_limits(case)) == case["expected"].encode("utf-8")
    else:
        assert case["error"] in ERROR_CODES
        with pytest.raises(pm.ProofMessengerError) as e:
            pm.canonicalize_json(data, **_limits(case))
        assert e.value.code == case["error"]


SUCCESS_TEXT = [c for c in CANONICAL if "expected" in c and "input" in c]


@pytest.mark.parametrize("case", SUCCESS_TEXT, ids=vu.ids(SUCCESS_TEXT))
def test_canonical_vector_via_python_values(case: dict[str, Any]) -> None:
    """json.loads then pm.canonicalize gives the same bytes (str input and the value path)."""
    assert pm.canonicalize_json(case["input"], **_limits(case)) == case["expected"].encode("utf-8")
    value = json.loads(case["input"])
    assert pm.canonicalize(value, max_depth=_limits(case)["max_depth"]) == case["expected"].encode("utf-8")

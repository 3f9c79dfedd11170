"""Wycheproof EdDSA (tests/vectors/wycheproof/ed25519_test.json) against the package.

The real Wycheproof check, every verdict on the file's own messages, is not
here: the Python API verifies proofs only and cannot verify a raw message. It
lives in
- rust/core/tests/ed25519_vectors.rs, ``wycheproof_eddsa_every_verdict_matches``:
  the core's ``ed25519::verify`` (the code the package runs) gives every
  verdict of the file, and agrees with ed25519-dalek's ``verify_strict``
  (``make test-rust``);
- tests/test_ed25519_reference.py, ``test_wycheproof_oracle`` (and
  ``test_wycheproof_has_no_acceptable_verdicts``): the pure-Python reference
  oracle and PyNaCl give every verdict of the file.

Through the Python API this file checks:

- every Wycheproof key is accepted in raw, SPKI DER and PEM form, has the
  thumbprint of its JWK, and matches the oracle's key verdict
  (``test_wycheproof_keys``);
- the 139 signatures of 64 bytes, moved onto a proof (whose message is a
  signed_digest, not the Wycheproof message), are all rejected with
  bad_signature (``test_wycheproof_signatures_moved_onto_a_proof``). Every
  one of them is a signature of another message, so this is one check that
  the parser takes all special R and S values (0, 1, L, non-canonical, small
  order) to the signature check without crashing or misclassifying them; it
  cannot tell a correct curve check from a wrong one;
- a proof signed by a Wycheproof key verifies with that key
  (``test_wycheproof_valid_signature_transplanted_to_its_own_digest``);
- the signatures of the wrong length are refused by the parser with
  invalid_field (``test_every_wycheproof_case_was_classified``).

Wycheproof has no "acceptable" cases in this file (asserted in
test_ed25519_reference.py); valid means accept, invalid means reject.
"""

from __future__ import annotations

import hashlib

import ed25519_reference as ref
import proof_messenger as pm
import protocol_reference as proto
import pytest
import vectors_util as vu

CASES = vu.wycheproof_ed25519()
KEYS = {c["public_key"]: c for c in CASES}
SIG64 = [c for c in CASES if len(c["signature"]) == 64]


@pytest.mark.parametrize("key", sorted(KEYS), ids=[k.hex()[:16] for k in sorted(KEYS)])
def test_wycheproof_keys(key: bytes) -> None:
    case = KEYS[key]
    assert ref.key_verdict(key) is None
    vk = pm.VerifyingKey.from_bytes(key)
    assert vk.to_bytes() == key
    assert pm.VerifyingKey.from_bytes(case["public_key_der"]) == vk
    assert vk.to_spki_der() == case["public_key_der"]
    assert pm.VerifyingKey.from_pem(case["public_key_pem"]) == vk
    assert case["jwk"]["x"] == proto.b64url(key)
    assert vk.key_id == proto.key_id(key)


def test_wycheproof_signatures_moved_onto_a_proof() -> None:
    # One test, not one per case: every case expects the same outcome (bad_signature,
    # a signature of another message), so per-case tests add count, not strength.
    assert len(SIG64) == 139
    outcomes = {}
    for case in SIG64:
        key = case["public_key"]
        context = {"wycheproof": case["tcId"]}
        nonce = proto.b64url(hashlib.sha256(b"wycheproof %d" % case["tcId"]).digest())
        env = proto.envelope(context, "wycheproof", 1_000, nonce)
        proof = proto.proof_dict(context, "wycheproof", 1_000, nonce, key, case["signature"])
        assert not ref.verify(key, env["signed_digest"], case["signature"]), case["tcId"]
        result = pm.verify(
            proto.canonical(proof),
            audience="wycheproof",
            now_ms=1_000,
            trusted_keys=pm.VerifyingKey.from_bytes(key),
        )
        outcomes[case["tcId"]] = (result.valid, result.code)
    assert outcomes == {c["tcId"]: (False, "bad_signature") for c in SIG64}


def test_wycheproof_valid_signature_transplanted_to_its_own_digest() -> None:
    # The reverse direction: a proof whose signed_digest *is* signed by a Wycheproof key
    # (RFC 8032 TEST 1 seed, which Wycheproof also uses) verifies.
    seed = bytes.fromhex(vu.load("rfc8032.json")["tests"][0]["secret_key"])
    key = proto.public_key(seed)
    assert key in KEYS
    proof = proto.sign_proof({"k": "v"}, seed, "wycheproof", 5, proto.b64url(bytes(16)))
    result = pm.verify(
        proto.canonical(proof), audience="wycheproof", now_ms=5, trusted_keys=pm.VerifyingKey.from_bytes(key)
    )
    assert result.valid


def test_every_wycheproof_case_was_classified() -> None:
    assert len(CASES) == 151
    assert sum(c["result"] == "valid" for c in CASES) == 88
    # Signatures of the wrong length can never reach the curve arithmetic: the proof
    # parser rejects them (invalid_field) or base64 does.
    odd = [c for c in CASES if len(c["signature"]) != 64]
    assert odd and all(c["result"] == "invalid" for c in odd)
    for c in odd:
        proof = proto.proof_dict({}, "w", 0, proto.b64url(bytes(16)), c["public_key"], c["signature"])
        result = pm.verify(
            proto.canonical(proof),
            audience="w",
            now_ms=0,
            trusted_keys=pm.VerifyingKey.from_bytes(c["public_key"]),
        )
        assert result.code == "invalid_field", c["tcId"]

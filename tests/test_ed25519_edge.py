"""Adversarial Ed25519 inputs (tests/vectors/ed25519_edge.json) through the package.

Keys: small-order, non-canonical and off-curve encodings are refused when a
verifier is configured with them, with the code of PROTOCOL section 6 step 5;
keys with a torsion component that are not of small order are valid.
Signatures: each sits in a proof over whose signed_digest it was made; the
proof's verdict under its policy is the section 5 rule's, single and batch.
"""

from __future__ import annotations

import proof_messenger as pm
import protocol_reference as proto
import pytest
import vectors_util as vu

EDGE = vu.load("ed25519_edge.json")
KEYS = EDGE["public_keys"]
SIGNATURES = EDGE["signatures"]


def key_code(build) -> str | None:  # type: ignore[no-untyped-def]
    try:
        build()
    except pm.ProofMessengerError as e:
        return e.code
    return None


@pytest.mark.parametrize("case", KEYS, ids=vu.ids(KEYS))
def test_key_from_bytes(case: dict) -> None:
    raw = bytes.fromhex(case["public_key_hex"])
    assert key_code(lambda: pm.VerifyingKey.from_bytes(raw)) == case["expected"]


@pytest.mark.parametrize("case", KEYS, ids=vu.ids(KEYS))
def test_key_in_spki_base64_and_pem(case: dict) -> None:
    der = proto.spki(bytes.fromhex(case["public_key_hex"]))
    pem = "-----BEGIN PUBLIC KEY-----\n" + proto.b64(der) + "\n-----END PUBLIC KEY-----\n"
    assert key_code(lambda: pm.VerifyingKey.from_bytes(der)) == case["expected"]
    assert key_code(lambda: pm.VerifyingKey.from_base64(proto.b64(der))) == case["expected"]
    assert key_code(lambda: pm.VerifyingKey.from_pem(pem)) == case["expected"]


@pytest.mark.parametrize("case", KEYS, ids=vu.ids(KEYS))
def test_key_in_a_proof_is_never_trusted_unless_valid(case: dict) -> None:
    """A weak or invalid key in a proof parses (it is only a hint) and can never be trusted.

    A valid key, once trusted, passes the trust check: the all-zero signature is then
    what fails (bad_signature), so the outcome shows that the key itself was accepted.
    A weak or invalid key cannot be made into a trusted VerifyingKey at all, and a
    proof carrying it is untrusted_key next to an honest trusted key.
    """
    raw = bytes.fromhex(case["public_key_hex"])
    proof = proto.canonical(proto.proof_dict({}, "edge", 0, proto.b64url(bytes(16)), raw, bytes(64)))
    honest = pm.SigningKey.from_bytes(bytes(32)).verifying_key
    assert honest.to_bytes() != raw
    untrusted = pm.verify(proof, audience="edge", now_ms=0, trusted_keys=[honest])
    assert (untrusted.valid, untrusted.code) == (False, "untrusted_key")
    if case["expected"] is None:
        edge = pm.VerifyingKey.from_bytes(raw)
        result = pm.verify(proof, audience="edge", now_ms=0, trusted_keys=[honest, edge])
        assert (result.valid, result.code) == (False, "bad_signature")
    else:
        assert case["expected"] in ("weak_public_key", "invalid_public_key")
        assert key_code(lambda: pm.VerifyingKey.from_bytes(raw)) == case["expected"]


@pytest.mark.parametrize("case", SIGNATURES, ids=vu.ids(SIGNATURES))
def test_signature_in_proof(case: dict) -> None:
    assert vu.verdict_of(case["proof_json"].encode(), case["proof_policy"]) == vu.expected(
        case, "proof_expected"
    )


@pytest.mark.parametrize("case", SIGNATURES, ids=vu.ids(SIGNATURES))
def test_signature_in_parsed_proof_and_dict(case: dict) -> None:
    keywords = vu.policy_keywords(case["proof_policy"])
    parsed = pm.Proof.from_json(case["proof_json"])
    assert parsed.signature.hex() == case["signature_hex"]
    assert parsed.signed_digest.hex() == case["message_hex"]
    want = vu.expected(case, "proof_expected")
    for form in (parsed, parsed.to_dict(), case["proof_json"]):
        result = pm.verify(form, **keywords)
        assert (result.valid, result.code) == want


def test_all_edge_signatures_in_one_batch_match_single_verification() -> None:
    keys = {pm.VerifyingKey.from_base64(s["proof_policy"]["trusted_public_keys_b64"][0]) for s in SIGNATURES}
    proofs = [s["proof_json"] for s in SIGNATURES] * 3  # more than one chunk of survivors, repeated items
    batch = pm.verify_batch(
        proofs, audience="edge-tests", trusted_keys=keys, now_ms=SIGNATURES[0]["proof_policy"]["now_ms"]
    )
    want = [vu.expected(s, "proof_expected") for s in SIGNATURES] * 3
    assert [(r.valid, r.code) for r in batch] == want


def test_torsion_only_signature_alone_in_a_batch_and_among_honest_ones() -> None:
    torsion = [s for s in SIGNATURES if s["name"].startswith(("torsion_r_order_", "mixed_order_key_"))]
    honest = next(s for s in SIGNATURES if s["name"] == "honest")
    keys = [
        pm.VerifyingKey.from_base64(s["proof_policy"]["trusted_public_keys_b64"][0])
        for s in [*torsion, honest]
    ]
    now = honest["proof_policy"]["now_ms"]
    for case in torsion:
        for batch in ([case], [case, honest], [honest, case, honest, case]):
            results = pm.verify_batch(
                [c["proof_json"] for c in batch], audience="edge-tests", trusted_keys=keys, now_ms=now
            )
            assert all(r.valid for r in results), case["name"]


def test_honest_key_signatures_are_cofactorless_valid_too() -> None:
    honest = next(s for s in SIGNATURES if s["name"] == "honest")
    assert honest["valid"] and honest["cofactorless_valid"]

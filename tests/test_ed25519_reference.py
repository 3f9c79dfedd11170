"""The pure-Python Ed25519 oracle is itself checked against RFC 8032, Wycheproof and PyNaCl.

Only a validated oracle may judge the package (tests/test_ed25519_edge.py,
tests/test_properties.py) and generate vectors (tests/vectors/generate.py).
"""

from __future__ import annotations

import hashlib
import json

import ed25519_reference as ref
import nacl.exceptions
import nacl.signing
import protocol_reference as proto
import pytest
import vectors_util as vu
from hypothesis import given
from hypothesis import strategies as st

RFC8032 = vu.load("rfc8032.json")["tests"]
WYCHEPROOF = vu.wycheproof_ed25519()
EDGE = vu.load("ed25519_edge.json")

# The 8 points of small order (the libsodium blocklist without its non-canonical entries).
TORSION_ENCODINGS = {
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
}


def pynacl_verifies(key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def test_curve_constants() -> None:
    assert ref.BASE.encode().hex() == "58" + "66" * 31
    assert (ref.BASE * ref.L).is_identity()
    assert not ref.BASE.is_small_order()
    assert ref.on_curve(*ref.BASE.affine())
    assert ref.SQRT_M1 * ref.SQRT_M1 % ref.P == ref.P - 1


def test_torsion_points_are_the_known_eight() -> None:
    points = ref.torsion_points()
    assert {p.encode().hex() for p in points} == TORSION_ENCODINGS
    assert sorted(p.order() for p in points) == [1, 2, 4, 4, 8, 8, 8, 8]
    assert all(ref.key_verdict(p.encode()) == "weak_public_key" for p in points)


@given(st.integers(min_value=1, max_value=ref.L - 1), st.integers(min_value=0, max_value=7))
def test_encode_decode_round_trip(scalar: int, torsion_index: int) -> None:
    point = ref.BASE * scalar + ref.torsion_points()[torsion_index]
    encoding = point.encode()
    decoded = ref.decode(encoding)
    assert decoded.canonical and decoded.point == point
    assert decoded.point.encode() == encoding


@pytest.mark.parametrize("test", RFC8032, ids=vu.ids(RFC8032))
def test_rfc8032(test: dict[str, str]) -> None:
    sk, pk = bytes.fromhex(test["secret_key"]), bytes.fromhex(test["public_key"])
    msg, sig = bytes.fromhex(test["message"]), bytes.fromhex(test["signature"])
    assert ref.public_key(sk) == pk
    assert ref.sign(sk, msg) == sig
    assert ref.verify(pk, msg, sig) and ref.verify_cofactorless(pk, msg, sig)
    # The transcription is confirmed by libsodium.
    assert bytes(nacl.signing.SigningKey(sk).verify_key) == pk
    assert nacl.signing.SigningKey(sk).sign(msg).signature == sig
    assert pynacl_verifies(pk, msg, sig)
    tampered = bytearray(sig)
    tampered[0] ^= 1
    assert not ref.verify(pk, msg, bytes(tampered))


def test_rfc8032_sha_abc_message_is_sha512_of_abc() -> None:
    (test,) = [t for t in RFC8032 if t["name"] == "TEST SHA(abc)"]
    assert bytes.fromhex(test["message"]) == hashlib.sha512(b"abc").digest()


def test_rfc8032_has_the_five_section_7_1_tests() -> None:
    assert vu.ids(RFC8032) == ["TEST 1", "TEST 2", "TEST 3", "TEST 1024", "TEST SHA(abc)"]
    assert len(bytes.fromhex(RFC8032[3]["message"])) == 1023


def test_wycheproof_has_no_acceptable_verdicts() -> None:
    # If a future copy adds "acceptable" cases, a decision must be written down for them:
    # this protocol has one rule, so each must become a definite accept or reject.
    assert {c["result"] for c in WYCHEPROOF} == {"valid", "invalid"}


@pytest.mark.parametrize("case", WYCHEPROOF, ids=[f"tc{c['tcId']}" for c in WYCHEPROOF])
def test_wycheproof_oracle(case: dict) -> None:
    want = case["result"] == "valid"
    pk, msg, sig = case["public_key"], case["message"], case["signature"]
    assert ref.verify(pk, msg, sig) is want
    # No Wycheproof signature carries a torsion component, so both equations agree.
    assert ref.verify_cofactorless(pk, msg, sig) is want
    assert pynacl_verifies(pk, msg, sig) is want
    assert ref.key_verdict(pk) is None


@pytest.mark.parametrize("case", EDGE["public_keys"], ids=vu.ids(EDGE["public_keys"]))
def test_edge_key_vectors_agree_with_oracle(case: dict) -> None:
    key = bytes.fromhex(case["public_key_hex"])
    decoded = ref.decode(key)
    assert ref.key_verdict(key) == case["expected"]
    assert decoded.canonical is case["rfc8032_decodes"]
    assert decoded.y_canonical is case["y_canonical"]
    assert (decoded.point is not None) is case["on_curve"]


def test_edge_keys_cover_every_small_order_and_non_canonical_encoding() -> None:
    keys = {bytes.fromhex(k["public_key_hex"]): k["expected"] for k in EDGE["public_keys"]}
    assert {k.hex() for k, code in keys.items() if code == "weak_public_key"} == TORSION_ENCODINGS
    # Every encoding with y >= p, both signs: 19 values of y.
    non_canonical_y = {k for k in keys if int.from_bytes(k, "little") & ((1 << 255) - 1) >= ref.P}
    assert len(non_canonical_y) == 38
    assert all(keys[k] == "invalid_public_key" for k in non_canonical_y)


@pytest.mark.parametrize("case", EDGE["signatures"], ids=vu.ids(EDGE["signatures"]))
def test_edge_signature_vectors_agree_with_oracle_and_pynacl(case: dict) -> None:
    key, msg, sig = (bytes.fromhex(case[k]) for k in ("public_key_hex", "message_hex", "signature_hex"))
    assert ref.rejection(key, msg, sig) == case["rejected_by"]
    assert ref.verify(key, msg, sig) is case["valid"]
    assert ref.verify_cofactorless(key, msg, sig) is case["cofactorless_valid"]
    assert pynacl_verifies(key, msg, sig) is case["cofactorless_valid"]
    # Each message is the signed digest of the proof that carries the signature.
    proof = json.loads(case["proof_json"])
    env = proto.envelope(proof["context"], proof["audience"], proof["timestamp"], proof["nonce"])
    assert env["signed_digest"] == msg


def test_edge_has_a_torsion_only_signature_valid_only_with_the_cofactor() -> None:
    torsion_only = [s for s in EDGE["signatures"] if s["name"].startswith("torsion_r_order_")]
    assert len(torsion_only) == 3
    assert all(s["valid"] and not s["cofactorless_valid"] for s in torsion_only)


def test_edge_small_order_r_would_pass_the_equation_alone() -> None:
    # Rule 3 is what rejects these: with R of small order and S = k*a the cofactored
    # group equation holds, so an implementation that skipped rule 3 would accept.
    for case in EDGE["signatures"]:
        if case["rejected_by"] != "rule3":
            continue
        key, msg, sig = (bytes.fromhex(case[k]) for k in ("public_key_hex", "message_hex", "signature_hex"))
        a, r = ref.decode_canonical(key), ref.decode_canonical(sig[:32])
        assert a is not None and r is not None
        k = ref.challenge(sig[:32], key, msg)
        s = int.from_bytes(sig[32:], "little")
        assert ((ref.BASE * s - r - a * k) * 8).is_identity(), case["name"]

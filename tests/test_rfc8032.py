"""RFC 8032 section 7.1 keys through the package.

The package signs only proofs (the message is always a signed_digest), so the
RFC's raw messages cannot be given to it; what can be checked is that its keys
are the RFC's (seed -> public key, key id) and that the signatures it makes
with them are exactly RFC 8032 Ed25519 (libsodium and the reference agree).
"""

from __future__ import annotations

import ed25519_reference as ref
import nacl.signing
import proof_messenger as pm
import protocol_reference as proto
import pytest
import vectors_util as vu

RFC8032 = vu.load("rfc8032.json")["tests"]


@pytest.mark.parametrize("test", RFC8032, ids=vu.ids(RFC8032))
def test_rfc8032_key_derivation(test: dict[str, str]) -> None:
    seed, pk = bytes.fromhex(test["secret_key"]), bytes.fromhex(test["public_key"])
    sk = pm.SigningKey.from_bytes(seed)
    assert sk.verifying_key.to_bytes() == pk
    assert sk.to_bytes() == seed
    vk = pm.VerifyingKey.from_bytes(pk)
    assert vk == sk.verifying_key
    assert vk.key_id == sk.key_id == proto.key_id(pk)


@pytest.mark.parametrize("test", RFC8032, ids=vu.ids(RFC8032))
def test_rfc8032_keys_sign_proofs_as_rfc8032_ed25519(test: dict[str, str]) -> None:
    seed, pk = bytes.fromhex(test["secret_key"]), bytes.fromhex(test["public_key"])
    proof = pm.sign({"rfc8032": test["name"]}, pm.SigningKey.from_bytes(seed), audience="rfc", timestamp_ms=1)
    assert proof.signature == nacl.signing.SigningKey(seed).sign(proof.signed_digest).signature
    assert proof.signature == ref.sign(seed, proof.signed_digest)
    assert ref.verify(pk, proof.signed_digest, proof.signature)
    result = pm.verify(proof, audience="rfc", trusted_keys=pm.VerifyingKey.from_bytes(pk), now_ms=1)
    assert result.valid and result.code is None


def test_key_id_of_rfc8032_test1_is_the_rfc8037_thumbprint() -> None:
    # RFC 8037 appendix A.3: the JWK thumbprint of the RFC 8032 TEST 1 key.
    pk = bytes.fromhex(RFC8032[0]["public_key"])
    assert pm.VerifyingKey.from_bytes(pk).key_id == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert proto.key_id(pk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"

"""WebAuthn through the Python API: credentials, verify / verify_batch with a
relying party, results, registration (docs/PROTOCOL.md section 10)."""

from __future__ import annotations

import json
import random
from typing import Any

import cbor2
import proof_messenger as pm
import pytest
from test_webauthn_authenticator import (
    AUDIENCE,
    CONTEXT,
    NOW,
    ORIGIN,
    RP_ID,
    Authenticator,
    b64url,
    b64url_decode,
    rp_keywords,
    signed_digest,
)

ALGS = ("ES256", "EdDSA", "RS256")


def code_of(call: Any) -> str | None:
    try:
        call()
    except pm.ProofMessengerError as e:
        return e.code
    return None


# -- credentials ---------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_credential_round_trip(alg: str) -> None:
    a = Authenticator(alg)
    cred = pm.WebAuthnCredential(b64url(a.credential_id), b64url(a.cose_key()), 9, user_handle=b"alice")
    assert cred == pm.WebAuthnCredential(a.credential_id, a.cose_key(), 9, user_handle="YWxpY2U")
    assert (cred.credential_id, cred.public_key, cred.sign_count) == (a.credential_id, a.cose_key(), 9)
    assert (cred.algorithm, cred.algorithm_name, cred.user_handle) == (a.cose_alg, alg, b"alice")
    assert cred.key_id == b64url(a.credential_id)
    assert cred.with_sign_count(10).sign_count == 10
    assert cred.with_sign_count(10).user_handle == b"alice"
    assert alg in repr(cred)


def test_credential_rejects_bad_keys_with_codes() -> None:
    es = Authenticator("ES256")
    key = cbor2.loads(es.cose_key())
    make = lambda k, cid=b"id": pm.WebAuthnCredential(cid, cbor2.dumps(k))  # noqa: E731
    assert code_of(lambda: make({**key, 3: -35})) == "unsupported_cose_algorithm"
    assert code_of(lambda: make({**key, -3: bytes(32)})) == "invalid_cose_key"
    assert code_of(lambda: make({**key, 1: 1})) == "invalid_cose_key"
    assert code_of(lambda: make({k: v for k, v in key.items() if k != 3})) == "invalid_cose_key"
    assert code_of(lambda: make(key, b"")) == "invalid_field"
    assert code_of(lambda: pm.WebAuthnCredential(b"id", es.cose_key() + b"\x00")) == "invalid_cose_key"
    assert code_of(lambda: pm.WebAuthnCredential("not base64url!", es.cose_key())) == "invalid_base64"
    small = {1: 3, 3: -257, -1: b"\xc5" * 128, -2: b"\x01\x00\x01"}
    assert code_of(lambda: make(small)) == "weak_public_key"
    identity = {1: 1, 3: -8, -1: 6, -2: b"\x01" + bytes(31)}
    assert code_of(lambda: make(identity)) == "weak_public_key"
    with pytest.raises(OverflowError):
        pm.WebAuthnCredential(b"id", es.cose_key(), -1)


# -- verify --------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGS)
def test_verify_reports_the_authenticator_state(alg: str) -> None:
    a = Authenticator(alg)
    proof = a.proof(flags=0x1D, count=42)
    for form in (proof, json.dumps(proof), json.dumps(proof).encode(), pm.Proof.from_json(json.dumps(proof))):
        result = pm.verify(form, trusted_keys=[a.credential(41)], **rp_keywords())
        assert (result.valid, result.code) == (True, None)
        assert (result.algorithm, result.sign_count) == ("WebAuthn", 42)
        assert (result.user_verified, result.backup_eligible, result.backup_state) == (True, True, True)
        assert result.credential_id == a.credential_id
        assert result.key_id == b64url(a.credential_id)
        assert result.context == CONTEXT
        assert result.signed_digest == signed_digest(CONTEXT, AUDIENCE, NOW - 1_000, result.nonce or "")


def test_invalid_results_carry_no_authenticator_state() -> None:
    a = Authenticator("ES256")
    result = pm.verify(a.proof(count=3), trusted_keys=[a.credential(3)], **rp_keywords())
    assert (result.valid, result.code) == (False, "counter_not_increasing")
    assert (result.sign_count, result.user_verified, result.backup_state, result.context) == (
        None,
        None,
        None,
        None,
    )
    assert result.credential_id == a.credential_id  # the parsed proof's, for logs


def test_proof_object_of_a_webauthn_proof() -> None:
    a = Authenticator("EdDSA")
    proof = pm.Proof.from_json(json.dumps(a.proof()))
    assert (proof.algorithm, proof.public_key, proof.credential_id) == ("WebAuthn", None, a.credential_id)
    assert proof.key_id == b64url(a.credential_id)
    assert json.loads(proof.to_json()) == a.proof()
    assert proof.to_dict() == a.proof()


def test_policy_keywords() -> None:
    a = Authenticator("ES256")
    trusted = [a.credential(0)]
    base = {"audience": AUDIENCE, "now_ms": NOW, "trusted_keys": trusted}
    assert pm.verify(a.proof(), **base).code == "unsupported_algorithm"
    with pytest.raises(TypeError):
        pm.verify(a.proof(), rp_id=RP_ID, **base)
    with pytest.raises(TypeError):
        pm.verify(a.proof(), origins=[ORIGIN], **base)
    with pytest.raises(TypeError):
        pm.verify(a.proof(), rp_id=RP_ID, origins=[], **base)
    assert pm.verify(a.proof(), rp_id=RP_ID, origins=ORIGIN, **base).valid, "a lone str is one origin"
    assert pm.verify(a.proof(), rp_id=RP_ID, origins=("https://x", ORIGIN), **base).valid
    assert pm.verify(a.proof(), rp_id="other.example", origins=[ORIGIN], **base).code == "rp_id_mismatch"
    assert pm.verify(a.proof(flags=0x01), rp_id=RP_ID, origins=[ORIGIN], **base).code == "user_not_verified"
    lenient = pm.verify(
        a.proof(flags=0x01), rp_id=RP_ID, origins=[ORIGIN], require_user_verification=False, **base
    )
    assert (lenient.valid, lenient.user_verified) == (True, False)


def test_trust_mixes_keys_and_credentials_and_resolvers() -> None:
    a, b = Authenticator("ES256"), Authenticator("ES256", seed=2)
    key = pm.SigningKey.from_bytes(bytes(32))
    ed_proof = pm.sign(CONTEXT, key, audience=AUDIENCE, timestamp_ms=NOW)
    mixed = [key.verifying_key, a.credential(0)]
    assert pm.verify(a.proof(), trusted_keys=mixed, **rp_keywords()).valid
    assert pm.verify(ed_proof, trusted_keys=mixed, **rp_keywords()).valid
    assert pm.verify(b.proof(), trusted_keys=mixed, **rp_keywords()).code == "untrusted_key"
    assert pm.verify(a.proof(), trusted_keys=a.credential(0), **rp_keywords()).valid
    table = {"alice": [a.credential(0)]}
    resolver = lambda subject: table.get(subject)  # noqa: E731
    assert pm.verify(a.proof(), resolver=resolver, **rp_keywords()).valid
    assert (
        pm.verify(a.proof(context={"subject": "bob"}), resolver=resolver, **rp_keywords()).code
        == "untrusted_key"
    )
    assert pm.verify(a.proof(context={"x": 1}), resolver=resolver, **rp_keywords()).code == "missing_subject"
    with pytest.raises(TypeError):
        pm.verify(a.proof(), trusted_keys=[object()], **rp_keywords())
    bound = pm.WebAuthnCredential(a.credential_id, a.cose_key(), user_handle=b"alice")
    assert pm.verify(a.proof(user_handle=b"alice"), trusted_keys=bound, **rp_keywords()).valid
    assert (
        pm.verify(a.proof(user_handle=b"mallory"), trusted_keys=bound, **rp_keywords()).code
        == "untrusted_key"
    )


def test_a_context_altered_in_transit_is_rejected() -> None:
    a = Authenticator("ES256")
    proof = a.proof()
    proof["context"] = {**CONTEXT, "amount": "90000.00"}
    assert pm.verify(proof, trusted_keys=a.credential(), **rp_keywords()).code == "challenge_mismatch"
    proof = a.proof()
    proof["audience"] = "other-api"
    assert pm.verify(proof, trusted_keys=a.credential(), **rp_keywords()).code == "audience_mismatch"
    proof = a.proof()
    proof["publicKey"] = "AAAA"
    assert pm.verify(proof, trusted_keys=a.credential(), **rp_keywords()).code == "unknown_field"


def test_batch_equals_single_on_mixed_proofs() -> None:
    rng = random.Random(6)
    authenticators = [Authenticator(alg, seed=s) for alg in ALGS for s in (1, 2)]
    key = pm.SigningKey.from_bytes(bytes(range(32)))
    trusted: list[pm.VerifyingKey | pm.WebAuthnCredential] = [key.verifying_key]
    trusted += [x.credential(5) for x in authenticators[::2]]
    proofs: list[Any] = []
    for i in range(60):
        kind = rng.randrange(6)
        a = rng.choice(authenticators)
        nonce = b64url(bytes([i]) * 16)
        if kind == 0:
            proofs.append(pm.sign(CONTEXT, key, audience=AUDIENCE, timestamp_ms=NOW, nonce=nonce))
        elif kind == 1:
            proofs.append(a.proof(count=rng.choice([4, 5, 6, 99]), nonce=nonce))
        elif kind == 2:
            p = a.proof(nonce=nonce, count=7)
            p["signature"] = b64url(b64url_decode(p["signature"])[:-1] + b"\x00")
            proofs.append(p)
        elif kind == 3:
            proofs.append(a.proof(nonce=nonce, count=8, flags=rng.choice([0x00, 0x01, 0x05, 0x0D, 0x15])))
        elif kind == 4:
            proofs.append(json.dumps(a.proof(nonce=nonce, count=9)).replace("WebAuthn", "WebAuthN"))
        else:
            proofs.append(b"{not json")
    keywords = rp_keywords()
    batch = pm.verify_batch(proofs, trusted_keys=trusted, **keywords)
    single = [pm.verify(p, trusted_keys=trusted, **keywords) for p in proofs]
    summary = lambda r: (r.valid, r.code, r.sign_count, r.backup_state, r.key_id)  # noqa: E731
    assert [summary(r) for r in batch] == [summary(r) for r in single]
    assert 10 < sum(r.valid for r in batch) < 50


# -- registration --------------------------------------------------------------

CHALLENGE = bytes(range(32))


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("fmt", ["none", "packed"])
def test_registration_then_proof(alg: str, fmt: str) -> None:
    a = Authenticator(alg, seed=7)
    att, cdj = a.registration(CHALLENGE, fmt=fmt, flags=0x5D, count=3)
    reg = pm.verify_registration(
        att, cdj, challenge=CHALLENGE, rp_id=RP_ID, origins=[ORIGIN], transports=["internal", "hybrid"]
    )
    assert (reg.attestation_format, reg.algorithm, reg.sign_count) == (fmt, a.cose_alg, 3)
    assert (reg.credential_id, reg.public_key, reg.aaguid) == (a.credential_id, a.cose_key(), bytes(16))
    assert (reg.user_verified, reg.backup_eligible, reg.backup_state) == (True, True, True)
    assert reg.transports == ["internal", "hybrid"]
    assert reg.key_id == b64url(a.credential_id)
    assert reg.credential == a.credential(3)
    # base64url text, as the browser's toJSON() sends it, works the same.
    again = pm.verify_registration(
        b64url(att), b64url(cdj), challenge=b64url(CHALLENGE), rp_id=RP_ID, origins=ORIGIN
    )
    assert again.credential == reg.credential
    assert pm.verify(a.proof(count=4), trusted_keys=reg.credential, **rp_keywords()).valid


def test_registration_errors_raise_with_codes() -> None:
    a = Authenticator("ES256", seed=8)
    att, cdj = a.registration(CHALLENGE, fmt="packed")
    ok = {"challenge": CHALLENGE, "rp_id": RP_ID, "origins": [ORIGIN]}
    register = lambda att=att, cdj=cdj, **kw: pm.verify_registration(att, cdj, **{**ok, **kw})  # noqa: E731
    assert code_of(register) is None
    assert code_of(lambda: register(challenge=bytes(32))) == "challenge_mismatch"
    assert code_of(lambda: register(challenge=bytes(8))) == "invalid_field"
    assert code_of(lambda: register(origins=["https://evil.example"])) == "origin_not_allowed"
    assert code_of(lambda: register(rp_id="evil.example")) == "rp_id_mismatch"
    no_uv, no_uv_cdj = a.registration(CHALLENGE, flags=0x41)
    assert code_of(lambda: register(no_uv, no_uv_cdj)) == "user_not_verified"
    assert code_of(lambda: register(no_uv, no_uv_cdj, require_user_verification=False)) is None
    obj = cbor2.loads(att)
    with_x5c = cbor2.dumps({**obj, "attStmt": {**obj["attStmt"], "x5c": [b"cert"]}})
    assert code_of(lambda: register(with_x5c)) == "attestation_unsupported"
    assert code_of(lambda: register(cbor2.dumps({**obj, "fmt": "android-key"}))) == "attestation_unsupported"
    assert code_of(lambda: register(cbor2.dumps({**obj, "fmt": "none"}))) == "invalid_attestation"
    wrong_alg = cbor2.dumps({**obj, "attStmt": {**obj["attStmt"], "alg": -257}})
    assert code_of(lambda: register(wrong_alg)) == "invalid_attestation"
    other_sig = cbor2.dumps(
        {**obj, "attStmt": {**obj["attStmt"], "sig": Authenticator("ES256", seed=9).sign(b"x")}}
    )
    assert code_of(lambda: register(other_sig)) == "bad_signature"
    assert code_of(lambda: register(b"\xa0")) == "invalid_attestation"
    assert (
        code_of(lambda: register(cdj=cdj.replace(b"webauthn.create", b"webauthn.get")))
        == "webauthn_type_mismatch"
    )
    assert code_of(lambda: register(cdj=b"{}")) == "invalid_client_data"
    with pytest.raises(TypeError):
        register(origins=[])

"""Differential test against py_webauthn (the ``webauthn`` PyPI package, test-only).

Generated ES256, EdDSA and RS256 assertions, valid and mutated, go through
``pm.verify`` and through ``webauthn.verify_authentication_response`` with the
challenge a verifier derives from the proof's envelope (rfc8785 + hashlib,
section 10.3). The verdicts must be the same, except for the inputs where
docs/PROTOCOL.md section 10.7 is stricter on purpose: there py_webauthn
accepts and we reject with the documented code. Registrations ("none" and
"packed" self attestation) are compared with ``verify_registration_response``.

Codes are compared too: each py_webauthn refusal (exception type and message,
``PEER_FAILURES``) is mapped to the set of our codes it can mean, and our code
must be in that set; every case also has its exact expected code. A refusal
that matches no entry of the table fails the test (a new py_webauthn message
must be classified, not accepted silently).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
import proof_messenger as pm
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from test_webauthn_authenticator import (
    AUDIENCE,
    NOW,
    ORIGIN,
    RP_ID,
    Authenticator,
    auth_data,
    b64url,
    b64url_decode,
    client_data,
    signed_digest,
)
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidBackupFlags,
    InvalidRegistrationResponse,
)

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
STORED = 10


@dataclass
class Case:
    """How to build one assertion: what the authenticator signs, and what reaches the verifier."""

    flags: int = 0x05
    count: int = 11
    rp_id: str = RP_ID
    kind: str = "webauthn.get"
    origin: str = ORIGIN
    extra: dict[str, Any] | None = None
    data_tail: bytes = b""
    challenge: Callable[[str], str] | None = None
    after: Callable[[dict[str, Any], Authenticator], None] | None = None
    signer: Authenticator | None = None
    stored: int = STORED
    require_uv: bool = True


def flip_last(member: str) -> Callable[[dict[str, Any], Authenticator], None]:
    def edit(proof: dict[str, Any], _: Authenticator) -> None:
        raw = bytearray(b64url_decode(proof[member]))
        raw[-1] ^= 0x01
        proof[member] = b64url(bytes(raw))

    return edit


def high_s(proof: dict[str, Any], a: Authenticator) -> None:
    if a.alg == "ES256":
        r, s = decode_dss_signature(b64url_decode(proof["signature"]))
        proof["signature"] = b64url(encode_dss_signature(r, P256_N - s))


def ber_length(proof: dict[str, Any], a: Authenticator) -> None:
    """Re-encode the ES256 SEQUENCE length in long form: valid BER, invalid DER."""
    if a.alg == "ES256":
        der = b64url_decode(proof["signature"])
        proof["signature"] = b64url(bytes([0x30, 0x81, der[1]]) + der[2:])


def other_context(proof: dict[str, Any], _: Authenticator) -> None:
    proof["context"] = {**proof["context"], "amount": "90000.00"}


def counter_bump(proof: dict[str, Any], _: Authenticator) -> None:
    raw = bytearray(b64url_decode(proof["authenticatorData"]))
    raw[36] ^= 0x40
    proof["authenticatorData"] = b64url(bytes(raw))


def wrong_origin_after_signing(proof: dict[str, Any], _: Authenticator) -> None:
    cdj = b64url_decode(proof["clientDataJSON"]).replace(ORIGIN.encode(), b"https://evil.example")
    proof["clientDataJSON"] = b64url(cdj)


CASES: dict[str, Case] = {
    "valid": Case(),
    "valid_uv_not_required": Case(flags=0x01, require_uv=False),
    "valid_backup_flags": Case(flags=0x1D),
    "valid_extension_data": Case(flags=0x85, data_tail=cbor2.dumps({"credProtect": 2})),
    "valid_extra_client_data_member": Case(extra={"other_keys_can_be_added_here": "do not compare"}),
    "valid_zero_counters": Case(count=0, stored=0),
    "valid_high_s": Case(after=high_s),
    "signature_bit_flip": Case(after=flip_last("signature")),
    "signature_ber_length": Case(after=ber_length),
    "other_key": Case(signer=Authenticator("ES256", seed=99)),
    "rp_id_hash": Case(rp_id="evil.example"),
    "user_not_present": Case(flags=0x04),
    "user_not_verified": Case(flags=0x01),
    "backup_state_without_eligible": Case(flags=0x15),
    "authenticator_data_trailing_byte": Case(data_tail=b"\x00"),
    "counter_equal": Case(count=STORED),
    "counter_lower": Case(count=STORED - 1),
    "counter_zero_after_nonzero": Case(count=0),
    "type_create": Case(kind="webauthn.create"),
    "origin": Case(origin="https://bank.example.evil"),
    "challenge_other": Case(challenge=lambda c: b64url(hashlib.sha256(c.encode()).digest())),
    "context_altered_in_transit": Case(after=other_context),
    "authenticator_data_altered": Case(after=counter_bump),
    "client_data_altered": Case(after=wrong_origin_after_signing),
    # Section 10.7: stricter than py_webauthn on purpose.
    "cross_origin": Case(extra={"crossOrigin": True}),
    "token_binding_present": Case(extra={"tokenBinding": {"status": "present", "id": "AAAA"}}),
    "challenge_padded": Case(challenge=lambda c: c + "="),
}
ES256_ONLY = {"valid_high_s", "signature_ber_length"}
STRICTER = {
    "cross_origin": "cross_origin_not_allowed",
    "token_binding_present": "token_binding_unsupported",
    "challenge_padded": "challenge_mismatch",
}
# Our exact code for every case that both verifiers refuse.
CODES = {
    "signature_bit_flip": "bad_signature",
    "signature_ber_length": "bad_signature",
    "other_key": "bad_signature",
    "rp_id_hash": "rp_id_mismatch",
    "user_not_present": "user_not_present",
    "user_not_verified": "user_not_verified",
    "backup_state_without_eligible": "invalid_authenticator_data",
    "authenticator_data_trailing_byte": "invalid_authenticator_data",
    "counter_equal": "counter_not_increasing",
    "counter_lower": "counter_not_increasing",
    "counter_zero_after_nonzero": "counter_not_increasing",
    "type_create": "webauthn_type_mismatch",
    "origin": "origin_not_allowed",
    "challenge_other": "challenge_mismatch",
    "context_altered_in_transit": "challenge_mismatch",
    "authenticator_data_altered": "bad_signature",
    "client_data_altered": "origin_not_allowed",
}

# py_webauthn 3.x refusals: (exception type, message prefix) -> the codes of ours it can mean.
# py_webauthn checks in the order of WebAuthn section 7.2 and so do we (PROTOCOL.md 10.5),
# so each class the cases reach has one meaning and maps to exactly one code:
# - its signature failure covers any input the signature does not cover (wrong key,
#   altered authenticatorData, a BER- instead of DER-encoded ECDSA signature), which are
#   all bad_signature for us;
# - "authenticatorData was malformed" and InvalidBackupFlags (BS set without BE, raised by
#   py_webauthn only after the signature check) are both structural faults of the
#   authenticator data: invalid_authenticator_data;
# - a challenge mismatch is reported whether the clientData challenge or the envelope it
#   is derived from was altered: both are challenge_mismatch for us.
# A py_webauthn class with several meanings would list all of them here, with the reason.
PEER_FAILURES: list[tuple[type[Exception], str, frozenset[str]]] = [
    (
        InvalidAuthenticationResponse,
        "Could not verify authentication signature",
        frozenset({"bad_signature"}),
    ),
    (
        InvalidAuthenticationResponse,
        "authenticatorData was malformed",
        frozenset({"invalid_authenticator_data"}),
    ),
    (InvalidBackupFlags, "Single-device credential indicated", frozenset({"invalid_authenticator_data"})),
    (InvalidAuthenticationResponse, "Unexpected RP ID hash", frozenset({"rp_id_mismatch"})),
    (InvalidAuthenticationResponse, "User was not present", frozenset({"user_not_present"})),
    (InvalidAuthenticationResponse, "User verification is required", frozenset({"user_not_verified"})),
    (InvalidAuthenticationResponse, "Response sign count of", frozenset({"counter_not_increasing"})),
    (InvalidAuthenticationResponse, "Unexpected client data type", frozenset({"webauthn_type_mismatch"})),
    (InvalidAuthenticationResponse, "Unexpected client data origin", frozenset({"origin_not_allowed"})),
    (InvalidAuthenticationResponse, "Client data challenge was not", frozenset({"challenge_mismatch"})),
    (
        InvalidRegistrationResponse,
        "Could not verify attestation statement signature",
        frozenset({"bad_signature"}),
    ),
    (InvalidRegistrationResponse, "Credential public key alg", frozenset({"invalid_attestation"})),
    (InvalidRegistrationResponse, "Unexpected RP ID hash", frozenset({"rp_id_mismatch"})),
    (InvalidRegistrationResponse, "User presence was required", frozenset({"user_not_present"})),
    (InvalidRegistrationResponse, "User verification is required", frozenset({"user_not_verified"})),
    (InvalidRegistrationResponse, "Unexpected client data type", frozenset({"webauthn_type_mismatch"})),
    (InvalidRegistrationResponse, "Unexpected client data origin", frozenset({"origin_not_allowed"})),
    (InvalidRegistrationResponse, "Client data challenge was not", frozenset({"challenge_mismatch"})),
]


def peer_codes(exc: Exception) -> frozenset[str]:
    """The codes of ours that a py_webauthn refusal can mean; an unknown refusal fails."""
    for kind, prefix, codes in PEER_FAILURES:
        if type(exc) is kind and str(exc).startswith(prefix):
            return codes
    raise AssertionError(f"unclassified py_webauthn refusal {type(exc).__name__}: {exc}")


def build(a: Authenticator, case: Case, nonce: str) -> dict[str, Any]:
    proof = a.proof(nonce=nonce)  # the envelope; the assertion is replaced below
    challenge = b64url(signed_digest(proof["context"], AUDIENCE, proof["timestamp"], nonce))
    if case.challenge:
        challenge = case.challenge(challenge)
    data = auth_data(case.rp_id, case.flags, case.count, case.data_tail)
    cdj = client_data(challenge, kind=case.kind, origin=case.origin, **(case.extra or {}))
    proof["authenticatorData"] = b64url(data)
    proof["clientDataJSON"] = b64url(cdj)
    signer = case.signer or a
    if signer.alg != a.alg:
        signer = Authenticator(a.alg, seed=99)
    proof["signature"] = b64url(signer.assertion(data, cdj))
    if case.after:
        case.after(proof, a)
    return proof


def ours(proof: dict[str, Any], a: Authenticator, case: Case) -> tuple[bool, str | None]:
    result = pm.verify(
        json.dumps(proof),
        trusted_keys=a.credential(case.stored),
        audience=AUDIENCE,
        now_ms=NOW,
        rp_id=RP_ID,
        origins=[ORIGIN],
        require_user_verification=case.require_uv,
    )
    return result.valid, result.code


def peer(proof: dict[str, Any], a: Authenticator, case: Case) -> Exception | None:
    """py_webauthn's refusal (None: accepted), with the challenge derived from the proof's own envelope."""
    challenge = signed_digest(proof["context"], proof["audience"], proof["timestamp"], proof["nonce"])
    credential = {
        "id": proof["credentialId"],
        "rawId": proof["credentialId"],
        "type": "public-key",
        "response": {
            "authenticatorData": proof["authenticatorData"],
            "clientDataJSON": proof["clientDataJSON"],
            "signature": proof["signature"],
        },
        "clientExtensionResults": {},
    }
    try:
        verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
            credential_public_key=a.cose_key(),
            credential_current_sign_count=case.stored,
            require_user_verification=case.require_uv,
        )
    except Exception as exc:  # every py_webauthn refusal is a verdict here, classified by peer_codes
        return exc
    return None


# Cases about ECDSA signature encodings only exist for ES256.
COMBINATIONS = [
    (alg, name)
    for name in CASES
    for alg in ("ES256", "EdDSA", "RS256")
    if name not in ES256_ONLY or alg == "ES256"
]


@pytest.mark.parametrize(("alg", "name"), COMBINATIONS)
def test_same_verdict_as_py_webauthn(alg: str, name: str) -> None:
    case = CASES[name]
    for seed in (1, 2, 3):
        a = Authenticator(alg, seed=seed)
        proof = build(a, case, nonce=b64url(bytes([seed]) * 16))
        mine, theirs = ours(proof, a, case), peer(proof, a, case)
        where = f"{name} {alg} seed {seed}: ours {mine}, py_webauthn {theirs!r}"
        if name in STRICTER:
            assert theirs is None, f"{name}: py_webauthn now rejects too; fold it into the common cases"
            assert mine == (False, STRICTER[name])
        elif name.startswith("valid"):
            assert (mine, theirs) == ((True, None), None), where
        else:
            assert theirs is not None, where
            assert mine == (False, CODES[name]), where
            assert mine[1] in peer_codes(theirs), where


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
@pytest.mark.parametrize("fmt", ["none", "packed"])
@pytest.mark.parametrize(
    "mutation", ["valid", "challenge", "origin", "rp_id", "no_uv", "sig", "alg", "type", "no_user_presence"]
)
def test_registration_same_verdict_as_py_webauthn(alg: str, fmt: str, mutation: str) -> None:
    a = Authenticator(alg, seed=4)
    challenge = bytes(range(1, 33))
    flags = {"no_uv": 0x41, "no_user_presence": 0x44}.get(mutation, 0x45)
    origin = "https://evil.example" if mutation == "origin" else ORIGIN
    att, cdj = a.registration(challenge, fmt=fmt, flags=flags, origin=origin)
    obj = cbor2.loads(att)
    if mutation == "sig" and fmt == "packed":
        obj["attStmt"]["sig"] = Authenticator(alg, seed=5).assertion(obj["authData"], cdj)
    if mutation == "alg" and fmt == "packed":
        obj["attStmt"]["alg"] = -7 if alg != "ES256" else -257
    if mutation == "type":
        cdj = cdj.replace(b"webauthn.create", b"webauthn.get")
    att = cbor2.dumps(obj)
    expected_challenge = bytes(32) if mutation == "challenge" else challenge
    rp_id = "evil.example" if mutation == "rp_id" else RP_ID
    mine: str | None = None
    try:
        pm.verify_registration(att, cdj, challenge=expected_challenge, rp_id=rp_id, origins=[ORIGIN])
    except pm.ProofMessengerError as exc:
        mine = exc.code
    credential = {
        "id": b64url(a.credential_id),
        "rawId": b64url(a.credential_id),
        "type": "public-key",
        "response": {"attestationObject": b64url(att), "clientDataJSON": b64url(cdj)},
        "clientExtensionResults": {},
    }
    theirs: Exception | None = None
    try:
        verify_registration_response(
            credential=credential,
            expected_challenge=expected_challenge,
            expected_rp_id=rp_id,
            expected_origin=ORIGIN,
            require_user_verification=True,
        )
    except Exception as exc:  # classified by peer_codes
        theirs = exc
    where = f"{alg} {fmt} {mutation}: ours {mine}, py_webauthn {theirs!r}"
    # "none" attestation has no statement: a changed sig or alg there changes nothing.
    inert = fmt == "none" and mutation in ("sig", "alg")
    if mutation == "valid" or inert:
        assert (mine, theirs) == (None, None), where
    else:
        assert theirs is not None, where
        assert mine == REGISTRATION_CODES[mutation], where
        assert mine in peer_codes(theirs), where


REGISTRATION_CODES = {
    "challenge": "challenge_mismatch",
    "origin": "origin_not_allowed",
    "rp_id": "rp_id_mismatch",
    "no_uv": "user_not_verified",
    "sig": "bad_signature",
    "alg": "invalid_attestation",
    "type": "webauthn_type_mismatch",
    "no_user_presence": "user_not_present",
}

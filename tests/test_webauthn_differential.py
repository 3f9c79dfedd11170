"""Differential test against py_webauthn (the ``webauthn`` PyPI package, test-only).

Generated ES256, EdDSA and RS256 assertions, valid and mutated, go through
``pm.verify`` and through ``webauthn.verify_authentication_response`` with the
challenge a verifier derives from the proof's envelope (rfc8785 + hashlib,
section 10.3). The verdicts must be the same. Registrations ("none" and
"packed" self attestation) are compared with ``verify_registration_response``.

The inputs the two decide differently are the rows of docs/PROTOCOL.md section
10.7, and only those: ``DIFFERENCES`` (and ``AGREEMENTS``, the rows that look
like differences but are not) runs each row's inputs through both and checks the
row's outcome, and ``test_protocol_section_10_7_lists_the_differences`` checks
that the section's tables name the same cases with the same outcomes.

Codes are compared too: each py_webauthn refusal (exception type and message,
``PEER_FAILURES``) is mapped to the set of our codes it can mean, and our code
must be in that set; every case also has its exact expected code. A refusal
that matches no entry of the table fails the test (a new py_webauthn message
must be classified, not accepted silently).
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import proof_messenger as pm
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from test_webauthn_authenticator import (
    AUDIENCE,
    CONTEXT,
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
    # The clientDataJSON for a challenge, instead of client_data(challenge, kind, origin, extra).
    client: Callable[[str], bytes] | None = None
    allow_cross_origin: bool = False


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
}
ES256_ONLY = {"valid_high_s", "signature_ber_length"}
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
    if case.client:
        cdj = case.client(challenge)
    else:
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


def peer_registration(
    a: Authenticator, att: bytes, cdj: bytes, challenge: bytes, rp_id: str = RP_ID
) -> Exception | None:
    """py_webauthn's refusal of a registration (None: accepted)."""
    credential = {
        "id": b64url(a.credential_id),
        "rawId": b64url(a.credential_id),
        "type": "public-key",
        "response": {"attestationObject": b64url(att), "clientDataJSON": b64url(cdj)},
        "clientExtensionResults": {},
    }
    try:
        verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=ORIGIN,
            require_user_verification=True,
        )
    except Exception as exc:  # classified by peer_codes
        return exc
    return None


def ours(proof: dict[str, Any], a: Authenticator, case: Case) -> tuple[bool, str | None]:
    result = pm.verify(
        json.dumps(proof),
        trusted_keys=a.credential(case.stored),
        audience=AUDIENCE,
        now_ms=NOW,
        rp_id=RP_ID,
        origins=[ORIGIN],
        require_user_verification=case.require_uv,
        allow_cross_origin=case.allow_cross_origin,
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
        if name.startswith("valid"):
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
    theirs = peer_registration(a, att, cdj, expected_challenge, rp_id)
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


# -- docs/PROTOCOL.md section 10.7: the documented differences -------------------------------

Verdicts = tuple[str | None, Exception | None]
"""For one input: our code (None: accepted) and py_webauthn's refusal (None: accepted)."""

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"
# A registration challenge whose base64url has "-" and "_" (to respell them as "+" and "/").
CREATE_CHALLENGE = bytes([0xFB, 0xEF, 0xBE, 0xFF, 0xFF, 0xFF]) * 5 + b"\x01\x02"
# An assertion nonce whose challenge has "-" and "_" as well.
NONCE = next(
    nonce
    for nonce in (b64url(bytes([i]) * 16) for i in range(256))
    if {"-", "_"} <= set(b64url(signed_digest(CONTEXT, AUDIENCE, NOW - 1_000, nonce)))
)
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
BASE = '{"type":"{type}","challenge":"{challenge}","origin":"https://bank.example"'


@dataclass
class Variant(Authenticator):
    """An authenticator whose COSE key (``cose``) or signature (``signs``) is made differently."""

    cose: Callable[[Authenticator], bytes] | None = None
    signs: Callable[[Authenticator, bytes], bytes] | None = None

    def cose_key(self) -> bytes:
        return self.cose(self) if self.cose else super().cose_key()

    def sign(self, message: bytes) -> bytes:
        return self.signs(self, message) if self.signs else super().sign(message)


def recoded(edit: Callable[[bytes], bytes]) -> Callable[[Authenticator], bytes]:
    """The standard COSE key of the authenticator, edited."""
    return lambda a: edit(Authenticator.cose_key(a))


def relabel(label: int, value: Callable[[Any], Any]) -> Callable[[bytes], bytes]:
    """The COSE key with the value of ``label`` replaced by ``value(old value)``."""
    return lambda key: cbor2.dumps({**cbor2.loads(key), label: value(cbor2.loads(key).get(label))})


def raw_point(a: Authenticator) -> bytes:
    """The ES256 key as an uncompressed SEC1 point, not a COSE key."""
    point = a.key.public_key().public_numbers()
    return bytes([4, *point.x.to_bytes(32, "big"), *point.y.to_bytes(32, "big")])


def indefinite(encoded: bytes) -> bytes:
    """The same CBOR map (of fewer than 24 entries) with an indefinite length."""
    assert 0xA0 <= encoded[0] <= 0xB7
    return b"\xbf" + encoded[1:] + b"\xff"


def unsigned(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def rsa_cose(a: Authenticator) -> bytes:
    """RS256 with `n` in its shortest big-endian form (any modulus size)."""
    numbers = a.key.public_key().public_numbers()
    return cbor2.dumps({1: 3, 3: -257, -1: unsigned(numbers.n), -2: unsigned(numbers.e)})


@functools.cache
def rsa_of(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def rsa_authenticator(bits: int) -> Variant:
    return Variant("RS256", seed=bits, key=rsa_of(bits), cose=rsa_cose)


def identity_key(_: Authenticator) -> bytes:
    """EdDSA with x the neutral point (small order)."""
    return cbor2.dumps({1: 1, 3: -8, -1: 6, -2: b"\x01" + bytes(31)})


def identity_forgery(_: Authenticator, message: bytes) -> bytes:
    """R = [s]B, S = s: valid for every message under the neutral point, where [k]A = 0."""
    seed = bytes(32)
    scalar = bytearray(hashlib.sha512(seed).digest()[:32])
    scalar[0] &= 248
    scalar[31] = (scalar[31] & 127) | 64
    r = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return r + (int.from_bytes(scalar, "little") % ED25519_ORDER).to_bytes(32, "little")


def pss(a: Authenticator, message: bytes) -> bytes:
    pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    return bytes(a.key.sign(message, pad, hashes.SHA256()))


def self_signed_certificate(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attestation")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    builder = x509.CertificateBuilder(name, name, key.public_key(), 1, start, start.replace(year=2040))
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def packed_x5c(a: Authenticator, data: bytes, cdj: bytes) -> dict[str, Any]:
    """Packed attestation by a (self-signed) vendor certificate instead of the credential key."""
    key = ec.derive_private_key(7, ec.SECP256R1())
    signature = key.sign(data + hashlib.sha256(cdj).digest(), ec.ECDSA(hashes.SHA256()))
    return {"alg": -7, "sig": signature, "x5c": [self_signed_certificate(key)]}


def fido_u2f(a: Authenticator, data: bytes, cdj: bytes) -> dict[str, Any]:
    key = ec.derive_private_key(7, ec.SECP256R1())
    signed = b"".join(
        [
            b"\x00",
            data[:32],
            hashlib.sha256(cdj).digest(),
            a.credential_id,
            raw_point(a),
        ]
    )
    return {"sig": key.sign(signed, ec.ECDSA(hashes.SHA256())), "x5c": [self_signed_certificate(key)]}


ClientData = Callable[[str, str], bytes]  # (challenge, type) -> clientDataJSON


def members(**extra: Any) -> ClientData:
    """The usual clientDataJSON with these members added or replaced."""
    return lambda challenge, kind: client_data(challenge, kind=kind, **extra)


def raw(template: str) -> ClientData:
    """clientDataJSON that json.dumps would not write, from a template with {type} and {challenge}."""
    return lambda challenge, kind: template.replace("{type}", kind).replace("{challenge}", challenge).encode()


def spelled(respell: Callable[[str], str]) -> ClientData:
    def make(challenge: str, kind: str) -> bytes:
        other = respell(challenge)
        assert other != challenge, "the respelling must change the challenge"
        return client_data(other, kind=kind)

    return make


def attested(a: Authenticator) -> bytes:
    """Attested credential data: a zero AAGUID, the credential id and its COSE key."""
    return bytes(16) + struct.pack(">H", len(a.credential_id)) + a.credential_id + a.cose_key()


def assertion(a: Authenticator | None = None, *, nonce: str = NONCE, **fields: Any) -> Verdicts:
    a = a or Authenticator("ES256", seed=1)
    case = Case(**fields)
    proof = build(a, case, nonce)
    try:
        mine = ours(proof, a, case)[1]
    except pm.ProofMessengerError as exc:  # the key registry refuses the stored credential's key
        mine = exc.code
    return mine, peer(proof, a, case)


def registration(
    a: Authenticator | None = None,
    *,
    fmt: str = "none",
    client: ClientData | None = None,
    flags: int = 0x45,
    tail: bytes = b"",
    statement: Callable[[Authenticator, bytes, bytes], dict[str, Any]] | None = None,
    encode: Callable[[dict[str, Any]], bytes] = cbor2.dumps,
    challenge: bytes = CREATE_CHALLENGE,
    allow_cross_origin: bool = False,
) -> Verdicts:
    a = a or Authenticator("ES256", seed=4)
    data = auth_data(flags=flags, count=0, tail=attested(a) + tail)
    cdj = (client or members())(b64url(challenge), "webauthn.create")
    if statement:
        stmt = statement(a, data, cdj)
    else:
        stmt = {"alg": a.cose_alg, "sig": a.assertion(data, cdj)} if fmt == "packed" else {}
    att = encode({"fmt": fmt, "attStmt": stmt, "authData": data})
    mine: str | None = None
    try:
        pm.verify_registration(
            att,
            cdj,
            challenge=challenge,
            rp_id=RP_ID,
            origins=[ORIGIN],
            allow_cross_origin=allow_cross_origin,
        )
    except pm.ProofMessengerError as exc:
        mine = exc.code
    return mine, peer_registration(a, att, cdj, challenge)


def both(*clients: ClientData, allow_cross_origin: bool = False) -> Callable[[], list[Verdicts]]:
    """Each clientDataJSON in an assertion and in a registration."""

    def for_get(make: ClientData) -> Callable[[str], bytes]:
        return lambda challenge: make(challenge, "webauthn.get")

    def run() -> list[Verdicts]:
        verdicts = []
        for make in clients:
            verdicts.append(assertion(client=for_get(make), allow_cross_origin=allow_cross_origin))
            verdicts.append(registration(client=make, allow_cross_origin=allow_cross_origin))
        return verdicts

    return run


def both_data(flags: int, tail: bytes) -> Callable[[], list[Verdicts]]:
    """Authenticator data with these flags and bytes after the counter (after the attested data)."""
    return lambda: [assertion(flags=flags, data_tail=tail), registration(flags=flags | 0x40, tail=tail)]


def both_keys(a: Callable[[], Authenticator]) -> Callable[[], list[Verdicts]]:
    """The credential key as stored for an assertion and as registered."""
    return lambda: [assertion(a()), registration(a())]


def with_statement(att: dict[str, Any], statement: bytes) -> bytes:
    """The attestation object with attStmt given as raw CBOR."""
    head = (
        cbor2.dumps("fmt") + cbor2.dumps(att["fmt"]) + cbor2.dumps("authData") + cbor2.dumps(att["authData"])
    )
    return b"\xa3" + head + cbor2.dumps("attStmt") + statement


def b64_edit(member: str, edit: Callable[[str], str]) -> Callable[[dict[str, Any], Authenticator], None]:
    def after(proof: dict[str, Any], _: Authenticator) -> None:
        proof[member] = edit(proof[member])

    return after


def flip_unused_bits(challenge: str) -> str:
    """The last character of a 43-character base64url carries 2 unused bits: set one."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return challenge[:-1] + alphabet[alphabet.index(challenge[-1]) ^ 1]


@dataclass(frozen=True)
class Documented:
    """A row of PROTOCOL.md 10.7: its inputs (``run`` gives their verdicts) and the outcome of each."""

    run: Callable[[], list[Verdicts]]
    ours: str | None  # our code for every input (None: we accept)
    peer: str | None = None  # None: py_webauthn accepts; else a regex its refusal message matches


PS256 = functools.partial(Variant, "RS256", seed=1, cose=recoded(relabel(3, lambda _: -37)), signs=pss)
MALFORMED = r"(authenticatorData|attestationObject) was malformed"

# Inputs we refuse and py_webauthn accepts, and the reverse (ours None); the names are PROTOCOL.md's.
DIFFERENCES: dict[str, Documented] = {
    "cross_origin": Documented(both(members(crossOrigin=True)), "cross_origin_not_allowed"),
    "top_origin_not_allowed": Documented(
        both(members(crossOrigin=True, topOrigin="https://evil.example"), allow_cross_origin=True),
        "origin_not_allowed",
    ),
    "cross_origin_not_boolean": Documented(
        both(members(crossOrigin="true"), members(crossOrigin=1), members(crossOrigin=None)),
        "invalid_client_data",
    ),
    "top_origin_without_cross_origin": Documented(
        both(members(topOrigin=ORIGIN), raw(BASE + ',"topOrigin":"https://bank.example"}')),
        "invalid_client_data",
    ),
    "token_binding_present": Documented(
        both(members(tokenBinding={"status": "present", "id": "AAAA"})), "token_binding_unsupported"
    ),
    "token_binding_not_object": Documented(
        both(members(tokenBinding="present"), members(tokenBinding=None)), "invalid_client_data"
    ),
    "client_data_bom": Documented(
        both(lambda c, kind: b"\xef\xbb\xbf" + client_data(c, kind=kind)), "invalid_client_data"
    ),
    "client_data_utf16": Documented(
        both(lambda c, kind: client_data(c, kind=kind).decode().encode("utf-16")), "invalid_client_data"
    ),
    "client_data_duplicate_member": Documented(
        both(
            raw(
                '{"type":"{type}","challenge":"AAAA","challenge":"{challenge}","origin":"https://bank.example"}'
            )
        ),
        "invalid_client_data",
    ),
    "client_data_inexact_number": Documented(
        both(*(raw(BASE + f',"n":{n}}}') for n in ("9007199254740993", "1e400", "NaN"))),
        "invalid_client_data",
    ),
    "client_data_lone_surrogate": Documented(both(raw(BASE + ',"s":"\\ud800"}')), "invalid_client_data"),
    "challenge_spelling": Documented(
        both(
            spelled(lambda c: c + "="),
            spelled(lambda c: c.replace("-", "+").replace("_", "/")),
            spelled(lambda c: c[:5] + "!" + c[5:]),
            spelled(lambda c: c[:5] + " " + c[5:]),
            spelled(flip_unused_bits),
        ),
        "challenge_mismatch",
    ),
    "assertion_attested_data": Documented(
        lambda: [assertion(flags=0x45, data_tail=attested(Authenticator("ES256", seed=1)))],
        "invalid_authenticator_data",
    ),
    "extensions_not_a_map": Documented(both_data(0x85, cbor2.dumps(5)), "invalid_authenticator_data"),
    "credential_id_too_long": Documented(
        lambda: [registration(Authenticator("ES256", seed=4, credential_id=bytes(1024)))],
        "invalid_authenticator_data",
    ),
    "cose_key_indefinite": Documented(
        lambda: [
            assertion(Variant(alg, seed=1, cose=recoded(indefinite))) for alg in ("ES256", "EdDSA", "RS256")
        ],
        "invalid_cose_key",
    ),
    "cose_key_trailing_bytes": Documented(
        lambda: [assertion(Variant("ES256", seed=1, cose=recoded(lambda k: k + b"\x00")))], "invalid_cose_key"
    ),
    "cose_key_raw_point": Documented(
        lambda: [assertion(Variant("ES256", seed=1, cose=raw_point))], "invalid_cose_key"
    ),
    "rsa_under_2048_bits": Documented(both_keys(lambda: rsa_authenticator(1024)), "weak_public_key"),
    "rsa_over_4096_bits": Documented(both_keys(lambda: rsa_authenticator(4104)), "invalid_cose_key"),
    "rsa_leading_zero": Documented(
        both_keys(lambda: Variant("RS256", seed=1, cose=recoded(relabel(-1, lambda n: b"\x00" + n)))),
        "invalid_cose_key",
    ),
    "eddsa_small_order": Documented(
        both_keys(lambda: Variant("EdDSA", seed=1, cose=identity_key, signs=identity_forgery)),
        "weak_public_key",
    ),
    "cose_algorithm_other": Documented(lambda: [assertion(PS256())], "unsupported_cose_algorithm"),
    "attestation_indefinite": Documented(
        lambda: [
            registration(encode=lambda att: indefinite(cbor2.dumps(att))),
            registration(fmt="packed", encode=lambda att: indefinite(cbor2.dumps(att))),
            registration(encode=lambda att: with_statement(att, b"\xbf\xff")),
            registration(
                fmt="packed", encode=lambda att: with_statement(att, indefinite(cbor2.dumps(att["attStmt"])))
            ),
        ],
        "invalid_attestation",
    ),
    "attestation_trailing_bytes": Documented(
        lambda: [registration(encode=lambda att: cbor2.dumps(att) + b"\x00")], "invalid_attestation"
    ),
    "attestation_without_statement": Documented(
        lambda: [registration(encode=lambda att: cbor2.dumps({"fmt": "none", "authData": att["authData"]}))],
        "invalid_attestation",
    ),
    "attestation_certificate": Documented(
        lambda: [
            registration(fmt="packed", statement=packed_x5c),
            registration(fmt="fido-u2f", statement=fido_u2f),
        ],
        "attestation_unsupported",
    ),
    "registration_challenge_short": Documented(
        lambda: [registration(challenge=bytes(range(1, 9)))], "invalid_field"
    ),
    "base64_not_canonical": Documented(
        lambda: [
            assertion(after=b64_edit(member, edit))
            for member in ("authenticatorData", "clientDataJSON", "signature")
            for edit in (lambda s: s + "=", lambda s: s[:3] + "!" + s[3:])
        ],
        "invalid_base64",
    ),
    # py_webauthn refuses, we accept.
    "extensions_not_canonical_cbor": Documented(
        lambda: [
            verdict
            for tail in (
                b"\xbf\x6bcredProtect\x02\xff",  # indefinite length
                b"\xa2\x61a\x01\x61a\x02",  # a key twice
                b"\xa1\x6bcredProtect\x18\x02",  # 2 in two bytes
            )
            for verdict in both_data(0x85, tail)()
        ],
        None,
        MALFORMED,
    ),
    "cose_key_not_canonical_cbor": Documented(
        lambda: [registration(Variant("ES256", seed=4, cose=recoded(lambda k: b"\xa5\x01\x18\x02" + k[3:])))],
        None,
        MALFORMED,
    ),
    "token_binding_other_status": Documented(
        both(members(tokenBinding={"status": "other"})), None, "Unexpected token_binding status"
    ),
}

# Inputs that look like differences but are not: both refuse.
AGREEMENTS: dict[str, Documented] = {
    "backup_state_without_eligible": Documented(
        both_data(0x15, b""), "invalid_authenticator_data", "Single-device credential indicated"
    ),
    "backup_state_and_bad_signature": Documented(
        lambda: [assertion(flags=0x15, after=flip_last("signature"))],
        "invalid_authenticator_data",
        "Could not verify authentication signature",
    ),
    "cose_key_indefinite_registration": Documented(
        lambda: [
            registration(Variant(alg, seed=4, cose=recoded(indefinite)))
            for alg in ("ES256", "EdDSA", "RS256")
        ],
        "invalid_cose_key",
        MALFORMED,
    ),
    "cose_algorithm_other_registration": Documented(
        lambda: [registration(PS256())], "unsupported_cose_algorithm", "Unsupported credential public key alg"
    ),
}


@pytest.mark.parametrize("name", [*DIFFERENCES, *AGREEMENTS])
def test_documented_differences(name: str) -> None:
    row = DIFFERENCES.get(name) or AGREEMENTS[name]
    if name in DIFFERENCES:
        assert (row.ours is None) != (row.peer is None), "a difference: exactly one side accepts"
    else:
        assert row.ours is not None and row.peer is not None, "an agreement: both refuse"
    verdicts = row.run()
    assert verdicts
    for i, (mine, theirs) in enumerate(verdicts):
        where = f"{name} input {i}: ours {mine}, py_webauthn {theirs!r}"
        assert mine == row.ours, where
        if row.peer is None:
            assert theirs is None, where
        else:
            assert theirs is not None and re.match(row.peer, str(theirs)), where


def protocol_section_10_7() -> dict[str, tuple[str | None, bool]]:
    """The rows of the tables in PROTOCOL.md 10.7: case -> (our code or None, py_webauthn accepts)."""
    text = PROTOCOL.read_text(encoding="utf-8")
    match = re.search(r"^### 10\.7 .*?\n(.*?)(?=^### )", text, re.S | re.M)
    assert match, "section 10.7 not found"
    rows: dict[str, tuple[str | None, bool]] = {}
    for line in match.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        case = re.fullmatch(r"`([a-z0-9_]+)`", cells[-1]) if line.startswith("|") else None
        if case is None:
            continue
        assert len(cells) == 5, line
        code = re.match(r"`([a-z0-9_]+)`", cells[2])
        assert code or cells[2].startswith("accepts"), line
        assert re.match(r"(accepts|refuses)", cells[3]), line
        assert case.group(1) not in rows, line
        rows[case.group(1)] = (code.group(1) if code else None, cells[3].startswith("accepts"))
    return rows


def test_protocol_section_10_7_lists_the_differences() -> None:
    documented = protocol_section_10_7()
    tested = {name: (row.ours, row.peer is None) for name, row in {**DIFFERENCES, **AGREEMENTS}.items()}
    assert documented == tested

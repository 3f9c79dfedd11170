"""A software WebAuthn authenticator for the tests, and an independent oracle
of the WebAuthn challenge (docs/PROTOCOL.md section 10.3).

Built from the standard library, ``rfc8785``, ``cbor2`` and ``cryptography``
only, never from proof_messenger, so that tests comparing the package with it
check the implementation against the document. The other WebAuthn tests
import it; the tests at the bottom check the oracle itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
import proof_messenger as pm
import rfc8785
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

DST = b"proof-messenger/v1/signing-payload\x00"
RP_ID = "bank.example"
ORIGIN = "https://bank.example"
AUDIENCE = "payments-api"
NOW = 1_764_331_200_000
CONTEXT = {
    "action": "wire_transfer",
    "amount": "50000.00",
    "currency": "EUR",
    "subject": "alice",
    "to": "ACME",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_digest(
    context: Any, audience: str, timestamp_ms: int, nonce: str, algorithm: str = "WebAuthn"
) -> bytes:
    """Section 4 with the given algorithm name: the WebAuthn challenge bytes."""
    field_ = lambda data: struct.pack(">H", len(data)) + data  # noqa: E731
    payload = (
        DST
        + field_(algorithm.encode("ascii"))
        + field_(audience.encode("utf-8"))
        + struct.pack(">Q", timestamp_ms)
        + field_(b64url_decode(nonce))
        + hashlib.sha256(rfc8785.dumps(context)).digest()
    )
    return hashlib.sha256(payload).digest()


def auth_data(rp_id: str = RP_ID, flags: int = 0x05, count: int = 1, tail: bytes = b"") -> bytes:
    return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", count) + tail


def client_data(challenge: str, *, kind: str = "webauthn.get", origin: str = ORIGIN, **extra: Any) -> bytes:
    members: dict[str, Any] = {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
    members.update(extra)
    return json.dumps(members, separators=(",", ":")).encode()


@dataclass
class Authenticator:
    """One credential of one algorithm: "ES256", "EdDSA" or "RS256"."""

    alg: str
    seed: int = 1
    credential_id: bytes = b""
    key: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.credential_id = (
            self.credential_id or hashlib.sha256(f"{self.alg}{self.seed}".encode()).digest()[:20]
        )
        if self.key is not None:
            return
        if self.alg == "ES256":
            self.key = ec.derive_private_key(10**20 + self.seed, ec.SECP256R1())
        elif self.alg == "EdDSA":
            self.key = ed25519.Ed25519PrivateKey.from_private_bytes(
                hashlib.sha256(bytes([self.seed])).digest()
            )
        else:
            self.key = rsa_key(self.seed)

    @property
    def cose_alg(self) -> int:
        return {"ES256": -7, "EdDSA": -8, "RS256": -257}[self.alg]

    def cose_key(self) -> bytes:
        public = self.key.public_key()
        if self.alg == "ES256":
            n = public.public_numbers()
            return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: n.x.to_bytes(32, "big"), -3: n.y.to_bytes(32, "big")})
        if self.alg == "EdDSA":
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

            return cbor2.dumps({1: 1, 3: -8, -1: 6, -2: public.public_bytes(Encoding.Raw, PublicFormat.Raw)})
        n = public.public_numbers()
        return cbor2.dumps({1: 3, 3: -257, -1: n.n.to_bytes(256, "big"), -2: n.e.to_bytes(3, "big")})

    def credential(self, sign_count: int = 0) -> pm.WebAuthnCredential:
        return pm.WebAuthnCredential(self.credential_id, self.cose_key(), sign_count)

    def sign(self, message: bytes) -> bytes:
        if self.alg == "ES256":
            return bytes(self.key.sign(message, ec.ECDSA(hashes.SHA256())))
        if self.alg == "EdDSA":
            return bytes(self.key.sign(message))
        return bytes(self.key.sign(message, padding.PKCS1v15(), hashes.SHA256()))

    def assertion(self, data: bytes, cdj: bytes) -> bytes:
        return self.sign(data + hashlib.sha256(cdj).digest())

    def proof(
        self,
        *,
        context: Any = None,
        timestamp_ms: int = NOW - 1_000,
        nonce: str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        flags: int = 0x05,
        count: int = 1,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """A WebAuthn proof (as a dict) over the envelope, signed as a browser would."""
        context = CONTEXT if context is None else context
        challenge = b64url(signed_digest(context, AUDIENCE, timestamp_ms, nonce))
        data = auth_data(flags=flags, count=count)
        cdj = client_data(challenge)
        proof = {
            "version": 1,
            "algorithm": "WebAuthn",
            "context": context,
            "audience": AUDIENCE,
            "timestamp": timestamp_ms,
            "nonce": nonce,
            "credentialId": b64url(self.credential_id),
            "authenticatorData": b64url(data),
            "clientDataJSON": b64url(cdj),
            "signature": b64url(self.assertion(data, cdj)),
        }
        if user_handle is not None:
            proof["userHandle"] = b64url(user_handle)
        return proof

    def registration(
        self, challenge: bytes, *, fmt: str = "none", flags: int = 0x45, origin: str = ORIGIN, count: int = 0
    ) -> tuple[bytes, bytes]:
        """(attestationObject, clientDataJSON) of navigator.credentials.create()."""
        attested = (
            bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self.cose_key()
        )
        data = auth_data(flags=flags, count=count, tail=attested)
        cdj = client_data(b64url(challenge), kind="webauthn.create", origin=origin)
        statement: dict[str, Any] = {}
        if fmt == "packed":
            statement = {"alg": self.cose_alg, "sig": self.assertion(data, cdj)}
        return cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": data}), cdj


_RSA_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def rsa_key(seed: int) -> rsa.RSAPrivateKey:
    """RSA keys are slow to make: one per seed per session."""
    if seed not in _RSA_KEYS:
        _RSA_KEYS[seed] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _RSA_KEYS[seed]


def rp_keywords(**overrides: Any) -> dict[str, Any]:
    keywords: dict[str, Any] = {"rp_id": RP_ID, "origins": [ORIGIN], "audience": AUDIENCE, "now_ms": NOW}
    keywords.update(overrides)
    return keywords


# -- the oracle itself ---------------------------------------------------------


def test_oracle_challenge_is_the_packages_signed_digest() -> None:
    proof = pm.Proof.from_json(json.dumps(Authenticator("ES256").proof()))
    assert proof.algorithm == "WebAuthn"
    assert proof.signed_digest == signed_digest(CONTEXT, AUDIENCE, NOW - 1_000, proof.nonce)
    assert proof.signed_digest != signed_digest(CONTEXT, AUDIENCE, NOW - 1_000, proof.nonce, "Ed25519")


def test_software_authenticator_proofs_verify() -> None:
    for alg in ("ES256", "EdDSA", "RS256"):
        a = Authenticator(alg)
        result = pm.verify(a.proof(count=5), trusted_keys=a.credential(4), **rp_keywords())
        assert (result.valid, result.code, result.sign_count) == (True, None, 5), alg

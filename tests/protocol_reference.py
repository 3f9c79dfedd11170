"""docs/PROTOCOL.md sections 2-4 recomputed in plain Python: an independent oracle.

Built only from the standard library, the `rfc8785` package (JCS) and PyNaCl
(libsodium Ed25519), never from proof_messenger, so that the vectors
generated with it (tests/vectors/generate.py) and the tests comparing the
package with it check the implementation against the document rather than
against itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any

import nacl.signing
import rfc8785

#: The error codes of protocol v1 (docs/PROTOCOL.md section 7 as of v1), in order.
V1_CODES = (
    "input_too_large",
    "nesting_too_deep",
    "invalid_utf8",
    "invalid_json",
    "duplicate_key",
    "lone_surrogate",
    "non_finite_number",
    "inexact_number",
    "invalid_type",
    "missing_field",
    "unknown_field",
    "invalid_field",
    "unsupported_version",
    "unsupported_algorithm",
    "invalid_base64",
    "invalid_public_key",
    "weak_public_key",
    "untrusted_key",
    "missing_subject",
    "audience_mismatch",
    "proof_expired",
    "timestamp_in_future",
    "bad_signature",
    "nonce_replayed",
)

DST = b"proof-messenger/v1/signing-payload\x00"
ALGORITHM = "Ed25519"
SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def b64(data: bytes) -> str:
    """RFC 4648 section 4, padded (publicKey, signature)."""
    return base64.b64encode(data).decode("ascii")


def b64url(data: bytes) -> str:
    """RFC 4648 section 5, unpadded (nonce, key id)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def loads(text: str | bytes) -> Any:
    """JSON text as the protocol reads it: every number is a double.

    Python's json keeps integers exact; integers beyond 2^53 - 1 are turned
    into floats here, which is what a JSON number denotes under section 3
    (and what the rfc8785 package can serialise).
    """

    def number(literal: str) -> int | float:
        value = int(literal)
        return value if abs(value) < 2**53 else float(value)

    return json.loads(text, parse_int=number)


def canonical(value: Any) -> bytes:
    """RFC 8785 via the rfc8785 package (integers limited to +-(2^53 - 1))."""
    return rfc8785.dumps(value)


def context_digest(canonical_context: bytes) -> bytes:
    return hashlib.sha256(canonical_context).digest()


def _field(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def payload(audience: str, timestamp_ms: int, nonce: bytes, digest: bytes) -> bytes:
    """Section 4: DST || field(alg) || field(audience) || u64be(ts) || field(nonce) || context_digest."""
    return (
        DST
        + _field(ALGORITHM.encode("ascii"))
        + _field(audience.encode("utf-8"))
        + struct.pack(">Q", timestamp_ms)
        + _field(nonce)
        + digest
    )


def signed_digest(payload_bytes: bytes) -> bytes:
    return hashlib.sha256(payload_bytes).digest()


def fingerprint(digest: bytes) -> str:
    """First 80 bits of the context digest, Crockford base32, 4 groups of 4."""
    bits = int.from_bytes(digest[:10], "big")
    chars = [CROCKFORD[(bits >> (75 - 5 * i)) & 0x1F] for i in range(16)]
    return "-".join("".join(chars[i : i + 4]) for i in range(0, 16, 4))


def key_id(raw_public_key: bytes) -> str:
    """RFC 7638 JWK thumbprint of an OKP/Ed25519 key."""
    jwk = '{"crv":"Ed25519","kty":"OKP","x":"' + b64url(raw_public_key) + '"}'
    return b64url(hashlib.sha256(jwk.encode("ascii")).digest())


def spki(raw_public_key: bytes) -> bytes:
    return SPKI_PREFIX + raw_public_key


def public_key(seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return nacl.signing.SigningKey(seed).sign(message).signature


def envelope(context: Any, audience: str, timestamp_ms: int, nonce: str) -> dict[str, Any]:
    """Every derived value of section 4 for one envelope."""
    canonical_context = canonical(context)
    digest = context_digest(canonical_context)
    payload_bytes = payload(audience, timestamp_ms, b64url_decode(nonce), digest)
    return {
        "canonical_context": canonical_context,
        "context_digest": digest,
        "fingerprint": fingerprint(digest),
        "payload": payload_bytes,
        "signed_digest": signed_digest(payload_bytes),
    }


def proof_dict(
    context: Any, audience: str, timestamp_ms: int, nonce: str, public_key_raw: bytes, signature: bytes
) -> dict[str, Any]:
    return {
        "version": 1,
        "algorithm": ALGORITHM,
        "context": context,
        "audience": audience,
        "timestamp": timestamp_ms,
        "nonce": nonce,
        "publicKey": b64(public_key_raw),
        "signature": b64(signature),
    }


def sign_proof(context: Any, seed: bytes, audience: str, timestamp_ms: int, nonce: str) -> dict[str, Any]:
    """A proof signed per section 4 with PyNaCl, as a dict."""
    signed = envelope(context, audience, timestamp_ms, nonce)["signed_digest"]
    return proof_dict(context, audience, timestamp_ms, nonce, public_key(seed), ed25519_sign(seed, signed))

"""A proof authorises exactly its request (integrations/binding.py) and only a bearer
credential is a credential (relay/http/guards.py): the checks on their own, at their edges."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import proof_messenger as pm
import pytest
from proof_messenger.integrations import (
    CONTEXT_MISMATCH,
    INVALID_BODY,
    INVALID_PROOF_HEADER,
    PROOF_REQUIRED,
    ProofRejected,
    VerifiedProof,
    bind,
    check_request,
    encode_header,
    proof_from_header,
)
from proof_messenger.integrations.binding import MAX_HEADER_CHARS
from proof_messenger.relay.errors import Refused
from proof_messenger.relay.http.guards import bearer

KEY = pm.SigningKey.from_bytes(bytes(range(32)))
CONTEXT = {"action": "wire_transfer", "amount": "10.00", "subject": "alice"}
PROOF = pm.sign(CONTEXT, KEY, audience="api")
BODY = pm.canonicalize(CONTEXT)


def rejected(call: Any) -> tuple[str, int]:
    with pytest.raises(ProofRejected) as exc:
        call()
    return exc.value.code, exc.value.status


def test_a_missing_proof_is_401_proof_required() -> None:
    for header in (None, ""):
        assert rejected(lambda h=header: proof_from_header(h)) == (PROOF_REQUIRED, 401)


@pytest.mark.parametrize("size", range(1, 41))
def test_every_length_round_trips_unpadded(size: int) -> None:
    data = bytes(range(size))
    header = encode_header(data)
    assert "=" not in header and proof_from_header(header) == data
    assert proof_from_header(f"  {header} ") == data


def test_the_header_size_limit_is_exact() -> None:
    assert MAX_HEADER_CHARS == 16 * 1024
    assert proof_from_header("A" * MAX_HEADER_CHARS) == bytes(MAX_HEADER_CHARS // 4 * 3)
    for over in (1, 4):  # 4: a well-formed header, refused for its size alone
        with pytest.raises(ProofRejected, match="too large") as exc:
            proof_from_header("A" * (MAX_HEADER_CHARS + over))
        assert (exc.value.code, exc.value.status) == (INVALID_PROOF_HEADER, 400)


@pytest.mark.parametrize(
    "header",
    # the last five decode (with a lenient decoder) to the bytes of a valid spelling:
    # "+" and "/" for "-" and "_", non-zero trailing bits ("AB", "AAB"), padding
    ["A", "AAAAA", "AA!A", "AA AA", "é", "+_8", "-/8", "AB", "AAB", "AA==", "AAA=", "A" * 4 + "===="],
)
def test_anything_but_unpadded_base64url_is_400(header: str) -> None:
    assert rejected(lambda: proof_from_header(header)) == (INVALID_PROOF_HEADER, 400)


def test_the_body_must_be_the_signed_context() -> None:
    proof_json = PROOF.to_json()
    assert bind(BODY, proof_json) == PROOF.context_digest
    assert (
        bind(b'{"subject":"alice","amount":"10.00","action":"wire_transfer"}', proof_json)
        == PROOF.context_digest
    )
    # other bodies, whatever their digest's order against the signed one
    lower = higher = None
    for n in range(200):
        body = pm.canonicalize({**CONTEXT, "amount": f"{n}.01"})
        digest = hashlib.sha256(body).digest()
        if digest < PROOF.context_digest and lower is None:
            lower = body
        if digest > PROOF.context_digest and higher is None:
            higher = body
    assert lower is not None and higher is not None
    for body in (lower, higher):
        assert rejected(lambda b=body: bind(b, proof_json)) == (CONTEXT_MISMATCH, 403)
    assert rejected(lambda: bind(b'{"a":1,"a":2}', proof_json)) == (INVALID_BODY, 400)
    assert rejected(lambda: bind(BODY, b"{}")) == ("missing_field", 400)


class FixedVerifier:
    """A verifier that answers what it is told (the defence in depth after the relay's answer)."""

    audience = "api"

    def __init__(self, digest: bytes | None, context: dict[str, Any] | None = None) -> None:
        self.digest = digest
        self.context = dict(CONTEXT) if context is None else context

    def verify(self, proof_json: bytes) -> VerifiedProof:
        return VerifiedProof(
            "alice", self.context, PROOF.key_id, "api", PROOF.nonce, 1, "rcpt_1", self.digest
        )

    async def averify(self, proof_json: bytes) -> VerifiedProof:
        return self.verify(proof_json)


def test_a_verifier_answering_for_another_context_is_refused() -> None:
    header = encode_header(PROOF.to_json())
    assert check_request(FixedVerifier(PROOF.context_digest), BODY, header).receipt_id == "rcpt_1"
    # a verdict without a digest vouches for no context
    assert rejected(lambda: check_request(FixedVerifier(None), BODY, header)) == (CONTEXT_MISMATCH, 403)
    for other in (bytes(32), b"\xff" * 32):  # below and above the bound digest
        assert rejected(lambda o=other: check_request(FixedVerifier(o), BODY, header)) == (
            CONTEXT_MISMATCH,
            403,
        )


def test_the_endpoint_reads_the_body_it_checked_not_the_verifiers_context() -> None:
    header = encode_header(PROOF.to_json())
    lying = FixedVerifier(PROOF.context_digest, context={"action": "wire_transfer", "amount": "99999.00"})
    assert check_request(lying, BODY, header).context == CONTEXT


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer pmk_abc", "pmk_abc"),
        ("bearer pmk_abc", "pmk_abc"),
        ("BEARER   pmk_abc  ", "pmk_abc"),
        ("Bearer ", None),
        ("Bearer    ", None),
        ("Bearerpmk_abc", None),
        ("Basic cG1rX2FiYzp4", None),  # sorts before "bearer "
        ("Digest username=x", None),  # sorts after "bearer "
        ("Token pmk_abc", None),
        ("", None),
    ],
)
def test_only_a_bearer_header_carries_a_token(value: str, token: str | None) -> None:
    assert bearer([value]) == token
    assert bearer([]) is None


@pytest.mark.parametrize("values", [["Bearer pmk_a", "Bearer pmk_b"], ["Bearer pmk_a", "Basic x"], ["", ""]])
def test_more_than_one_authorization_header_is_refused(values: list[str]) -> None:
    with pytest.raises(Refused) as exc:
        bearer(values)
    assert exc.value.code == "unauthorized"


def test_encode_header_is_unpadded_base64url() -> None:
    assert encode_header(b"\xfb\xff") == base64.urlsafe_b64encode(b"\xfb\xff").decode().rstrip("=") == "-_8"

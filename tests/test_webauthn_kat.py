"""Published WebAuthn registrations (tests/vectors/webauthn/kat.json) through
``pm.verify_registration``. The published assertions, whose challenges are not
proof-messenger envelopes, run through the core in rust/core/tests/webauthn_kat.rs."""

from __future__ import annotations

from typing import Any

import proof_messenger as pm
import pytest
import vectors_util as vu
from test_webauthn_authenticator import b64url_decode

KAT = vu.load("webauthn/kat.json")
REGISTRATIONS = KAT["registrations"]


def test_every_case_names_its_source() -> None:
    for case in REGISTRATIONS + KAT["assertions"]:
        source = case["source"]
        assert {"repository", "path", "commit", "test", "license"} <= set(source), case["name"]
        assert len(source["commit"]) == 40


@pytest.mark.parametrize("case", REGISTRATIONS, ids=vu.ids(REGISTRATIONS))
def test_published_registration(case: dict[str, Any]) -> None:
    expected = case["expected"]
    try:
        reg = pm.verify_registration(
            case["attestation_object"],
            case["client_data_json"],
            challenge=b64url_decode(case["challenge"]),
            rp_id=case["rp_id"],
            origins=case["origins"],
            require_user_verification=case["require_user_verification"],
        )
    except pm.ProofMessengerError as e:
        assert (False, e.code) == (expected["valid"], expected["code"]), e.detail
        return
    assert expected["valid"], "accepted a registration the vectors reject"
    assert reg.attestation_format == expected["format"]
    assert reg.credential_id == b64url_decode(expected["credential_id"])
    assert reg.algorithm == expected["algorithm"]
    if "public_key" in expected:
        assert reg.public_key == b64url_decode(expected["public_key"])
    if "sign_count" in expected:
        assert reg.sign_count == expected["sign_count"]
    if "aaguid" in expected:
        assert reg.aaguid.hex() == expected["aaguid"]
    if "user_verified" in expected:
        assert reg.user_verified == expected["user_verified"]

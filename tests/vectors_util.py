"""Loading the JSON vectors of tests/vectors/ and applying their policies.

Tests read vectors only through this module, so a change of file layout is
made in one place. Nothing here computes an expected value: those are in the
files (see tests/vectors/generate.py).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import proof_messenger as pm
import protocol_reference as proto

VECTORS = Path(__file__).resolve().parent / "vectors"

#: The error codes of protocol v1, in order (defined once, in the protocol oracle).
V1_CODES = proto.V1_CODES


@cache
def load(name: str) -> Any:
    """A vector file, parsed (cached: treat the result as read-only)."""
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def ids(entries: list[dict[str, Any]], key: str = "name") -> list[str]:
    return [str(entry[key]) for entry in entries]


def proof_bytes(entry: dict[str, Any]) -> bytes:
    """The proof of a verdict entry: `proof_hex` for bytes that are not UTF-8, else `proof_json`."""
    if "proof_hex" in entry:
        return bytes.fromhex(entry["proof_hex"])
    return str(entry["proof_json"]).encode("utf-8")


def input_bytes(case: dict[str, Any]) -> bytes:
    """The input of a canonical_v1 case."""
    if "input_hex" in case:
        return bytes.fromhex(case["input_hex"])
    return str(case["input"]).encode("utf-8")


def policy_keywords(policy: dict[str, Any]) -> dict[str, Any]:
    """pm.verify keywords for a vector policy; builds (and so validates) the trusted keys.

    Raises pm.ProofMessengerError when a trusted key is invalid or weak, as a
    verifier does when it is configured with one (PROTOCOL section 6 step 5).
    """
    keywords: dict[str, Any] = {
        "audience": policy["audience"],
        "now_ms": policy["now_ms"],
        "max_age_ms": policy["max_age_ms"],
        "max_skew_ms": policy["max_skew_ms"],
        "max_bytes": policy["max_bytes"],
        "max_depth": policy["max_depth"],
    }
    if "subject_keys_b64" in policy:
        table = {
            subject: [pm.VerifyingKey.from_base64(k) for k in keys]
            for subject, keys in policy["subject_keys_b64"].items()
        }
        keywords["resolver"] = lambda subject: table.get(subject, [])
    else:
        keywords["trusted_keys"] = [pm.VerifyingKey.from_base64(k) for k in policy["trusted_public_keys_b64"]]
    return keywords


def verdict_of(proof: Any, policy: dict[str, Any]) -> tuple[bool, str | None]:
    """(valid, code) of a proof under a vector policy, configuration errors included."""
    try:
        keywords = policy_keywords(policy)
    except pm.ProofMessengerError as e:
        return False, e.code
    result = pm.verify(proof, **keywords)
    return result.valid, result.code


def expected(entry: dict[str, Any], key: str = "expected") -> tuple[bool, str | None]:
    return bool(entry[key]["valid"]), entry[key]["code"]


def jcs_pairs() -> list[tuple[str, bytes, bytes]]:
    """(name, input, expected output) of the RFC 8785 reference data in tests/vectors/jcs."""
    inputs = sorted((VECTORS / "jcs" / "input").glob("*.json"))
    return [(p.stem, p.read_bytes(), (VECTORS / "jcs" / "output" / p.name).read_bytes()) for p in inputs]


def wycheproof_ed25519() -> list[dict[str, Any]]:
    """Every Wycheproof EdDSA case, flattened, with its group's key as bytes."""
    suite = load("wycheproof/ed25519_test.json")
    cases = []
    for group in suite["testGroups"]:
        for test in group["tests"]:
            cases.append(
                {
                    "tcId": test["tcId"],
                    "comment": test["comment"],
                    "flags": test["flags"],
                    "result": test["result"],
                    "public_key": bytes.fromhex(group["publicKey"]["pk"]),
                    "public_key_der": bytes.fromhex(group["publicKeyDer"]),
                    "public_key_pem": group["publicKeyPem"],
                    "jwk": group["publicKeyJwk"],
                    "message": bytes.fromhex(test["msg"]),
                    "signature": bytes.fromhex(test["sig"]),
                }
            )
    assert len(cases) == suite["numberOfTests"]
    return cases

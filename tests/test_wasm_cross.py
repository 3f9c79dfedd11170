"""The WASM/JS package and the Python package agree byte for byte.

Python generates thousands of JSON values (unicode keys and values including
astral characters, nesting, edge numbers) and some that must be rejected; the
WASM package (driven by ``node wasm/tools/cross.mjs``) canonicalises, digests
and fingerprints them as JS values; both sides must give identical bytes or
the identical error code. Then proofs made in JS with WebCrypto Ed25519
verify in Python, and fail with ``bad_signature`` once their context changes.

Needs node >= 20 and the WASM build (``wasm/build.sh``, run here; a no-op when
up to date). Nothing is skipped: if either is missing, the test fails and says so.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import proof_messenger as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "wasm" / "tools" / "cross.mjs"
SEED = int(os.environ.get("PM_CROSS_SEED", "20261128"))
N_VALID = 2500
N_INVALID = 300
N_PROOFS = 40

# Strings the JS driver turns into the numbers JSON cannot spell.
SPECIALS = {"nan": "\u0000NaN\u0000", "inf": "\u0000Infinity\u0000", "-inf": "\u0000-Infinity\u0000"}


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None:
        pytest.fail("node (>= 20) is required for the WASM cross-implementation test; install Node.js 20")
    major = int(
        subprocess.run(
            [exe, "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True, check=True
        ).stdout
    )
    if major < 20:
        pytest.fail(f"node >= 20 is required, found major version {major}")
    build = subprocess.run([str(ROOT / "wasm" / "build.sh")], capture_output=True, text=True)
    if build.returncode != 0:
        pytest.fail(f"wasm/build.sh failed (exit {build.returncode}):\n{build.stderr[-4000:]}")
    return exe


def run_driver(node: str, mode: str, lines: list[str]) -> list[Any]:
    result = subprocess.run(
        [node, str(DRIVER), mode],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
    )
    assert result.returncode == 0, f"node {DRIVER.name} {mode} failed:\n{result.stderr[-4000:]}"
    # split("\n"), not splitlines(): JSON text may hold U+2028 and other line separators.
    return [json.loads(line) for line in result.stdout.split("\n") if line]


# --------------------------------------------------------------- generation --

KEY_POOL = [
    "",
    "a",
    "A",
    "b",
    "amount",
    "currency",
    "to",
    "subject",
    "1",
    "10",
    "2",
    "-1",
    "01",
    "__proto__",
    "constructor",
    "toString",
    "é",
    "e\u0301",
    "日本",
    "\u00ff",
    "\ufffd",
    "\uffff",
    "\u2028",
    "\u007f",
    "\U00010000",
    "\U0001f600",
    "\U0001d11e",
    "\U0010ffff",
    "\n",
    "\t",
    "\x00",
    "\x1f",
    '"',
    "\\",
    "/",
    "key with spaces",
    "ǅ",
    "\u0130",
]
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz0123456789 -_.",
    '\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x1f"\\/\x7f',
    "éèüßøåçñÀÉÎÕÜ",
    "日本語中文한국어",
    "\u2028\u2029\ufeff\ufffd\uffff\u00a0\u200b",
    "\U00010000\U0001f600\U0001f4a9\U0001d11e\U0010ffff\U00020000",
]
EDGE_FLOATS = [
    5e-324,
    -5e-324,
    1e21,
    1e-7,
    1e-6,
    0.000001,
    1e20,
    123456789012345680000.0,
    -0.0,
    0.0,
    0.1,
    0.2,
    0.3,
    1 / 3,
    2.0**53,
    -(2.0**53),
    2.0**53 + 2,
    2.0**60,
    2.0**64,
    1.7976931348623157e308,
    2.2250738585072014e-308,
    2.225073858507201e-308,
    4.35,
    0.5,
    100.0,
    1e300,
    9007199254740993.0,
    333333333.3333333,
    1e-323,
]
EDGE_INTS = [0, 1, -1, 2**53, -(2**53), 2**53 - 1, 2**31, -(2**31), 2**32, 10**15, 999999999999999]


def random_string(rng: random.Random) -> str:
    alphabet = "".join(rng.sample(ALPHABETS, rng.randint(1, 3)))
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def random_float(rng: random.Random) -> float:
    kind = rng.random()
    if kind < 0.3:
        return rng.choice(EDGE_FLOATS)
    if kind < 0.6:
        while True:  # any finite double, from its bits
            f: float = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if math.isfinite(f):
                return f
    if kind < 0.8:
        return round(rng.uniform(-1e6, 1e6), rng.randint(0, 6))
    return rng.uniform(-1, 1) * 10.0 ** rng.randint(-30, 30)


def random_scalar(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.4:
        return random_string(rng)
    if kind < 0.6:
        return random_float(rng)
    if kind < 0.75:
        return rng.choice(EDGE_INTS) if rng.random() < 0.5 else rng.randint(-(2**53), 2**53)
    if kind < 0.85:
        return rng.choice([True, False])
    return None


def random_key(rng: random.Random) -> str:
    return rng.choice(KEY_POOL) if rng.random() < 0.5 else random_string(rng)


def random_value(rng: random.Random, depth: int) -> Any:
    if depth >= 6 or rng.random() < 0.55:
        return random_scalar(rng)
    if rng.random() < 0.5:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return random_object(rng, depth + 1)


def random_object(rng: random.Random, depth: int) -> dict[str, Any]:
    return {random_key(rng): random_value(rng, depth) for _ in range(rng.randint(0, 7))}


def nest(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


def with_one_error(rng: random.Random, base: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """`base` plus one bad member (added last, so document order is the same in JS and Python)."""
    kind = rng.randrange(6)
    bad: Any
    if kind == 0:
        python, js = float("nan"), SPECIALS["nan"]
        bad = (python, js)
    elif kind == 1:
        bad = (float("inf"), SPECIALS["inf"]) if rng.random() < 0.5 else (float("-inf"), SPECIALS["-inf"])
    elif kind == 2:
        s = (
            "ok"
            + rng.choice(["\ud800", "\udbff", "\udc00", "\udfff"])
            + rng.choice(["", "x", "\udc00\udc00"])
        )
        bad = (s, s)
    elif kind == 3:
        deep = nest(1, 32)  # the context object is depth 1: this is depth 33
        bad = (deep, deep)
    elif kind == 4:
        deep = {"x": nest({"y": 1}, 31)}
        bad = (deep, deep)
    else:
        key = "k" + rng.choice(["\ud83d", "\ude00"])  # a lone surrogate in a member name
        python_obj = dict(base)
        python_obj[key] = 1
        return python_obj, dict(python_obj)
    python_value, js_value = bad
    python_obj, js_obj = dict(base), dict(base)
    python_obj["zz_bad"], js_obj["zz_bad"] = python_value, js_value
    return python_obj, js_obj


def python_result(value: Any) -> dict[str, str]:
    try:
        canonical = pm.canonicalize(value)
    except pm.ProofMessengerError as e:
        return {"code": e.code}
    return {
        "canonical_hex": canonical.hex(),
        "digest_hex": pm.context_digest(value).hex(),
        "fingerprint": pm.fingerprint(value),
    }


def to_line(value: Any) -> str:
    # ensure_ascii keeps lone surrogates and astral characters exact (as \u escapes).
    return json.dumps(value, ensure_ascii=True, allow_nan=False)


# ---------------------------------------------------------------------- tests --


def test_error_codes_are_the_same(node: str) -> None:
    (codes,) = run_driver(node, "codes", [])
    assert tuple(codes) == tuple(pm.ERROR_CODES)


def test_canonical_digest_fingerprint_identical(node: str) -> None:
    rng = random.Random(SEED)
    python_values: list[Any] = []
    lines: list[str] = []
    while len(python_values) < N_VALID:
        value = random_object(rng, 1)
        if rng.random() < 0.05:
            value = random_value(rng, 0)  # canonicalize takes any JSON value, like Python's
        python_values.append(value)
        lines.append(to_line(value))
    for _ in range(N_INVALID):
        python_obj, js_obj = with_one_error(rng, random_object(rng, 4))
        python_values.append(python_obj)
        lines.append(to_line(js_obj))

    js = run_driver(node, "canonical", lines)
    assert len(js) == len(python_values)
    valid = errors = 0
    for value, line, got in zip(python_values, lines, js, strict=True):
        expected = python_result(value)
        assert got == expected, f"seed {SEED}: input {line[:300]}"
        if "code" in expected:
            errors += 1
        else:
            valid += 1
    assert valid >= 2000, valid
    assert errors >= N_INVALID, errors


def test_webcrypto_proofs_verify_in_python(node: str) -> None:
    rng = random.Random(SEED + 1)
    contexts = [
        {
            "action": "wire_transfer",
            "amount": "50000.00",
            "currency": "EUR",
            "to": "ACME-CORP",
            "subject": "alice",
        },
        {
            "subject": "\U0001f600 \u00fcser",
            "\U00010000": [5e-324, 1e21, -0.0, 2**53],
            "text": '\u2028"\\\x00',
        },
    ]
    while len(contexts) < N_PROOFS:
        context = random_object(rng, 1)
        # `subject`, when present, must be a 1..255-byte string (PROTOCOL.md section 2).
        context.pop("subject", None)
        if rng.random() < 0.5:
            context["subject"] = "user-" + random_string(rng)
        contexts.append(context)
    lines = [
        json.dumps({"context": c, "audience": f"aud-{i}"}, ensure_ascii=True) for i, c in enumerate(contexts)
    ]
    results = run_driver(node, "proofs", lines)
    assert len(results) == N_PROOFS
    for i, (context_sent, result) in enumerate(zip(contexts, results, strict=True)):
        proof_json: str = result["proof"]
        key = pm.VerifyingKey.from_bytes(bytes.fromhex(result["public_key_hex"]))
        proof = json.loads(proof_json)
        res = pm.verify(proof_json, trusted_keys=key, audience=f"aud-{i}", now_ms=proof["timestamp"])
        assert res.valid, (res.code, res.detail, proof_json[:300])
        assert res.context_digest == pm.context_digest(context_sent)
        assert res.key_id == key.key_id
        assert len(pm.Proof.from_json(proof_json).nonce) >= 22  # >= 128 bits, base64url

        # The proof is bound to its context: any change breaks the signature.
        tampered = dict(proof, context={**proof["context"], "injected": "x"})
        bad = pm.verify(
            json.dumps(tampered), trusted_keys=key, audience=f"aud-{i}", now_ms=proof["timestamp"]
        )
        assert bad.code == "bad_signature"
        wrong_audience = pm.verify(
            proof_json, trusted_keys=key, audience="elsewhere", now_ms=proof["timestamp"]
        )
        assert wrong_audience.code == "audience_mismatch"

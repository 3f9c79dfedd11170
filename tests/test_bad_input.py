"""Hostile input always ends in a documented error code, never a crash or another exception.

Every entry point that takes untrusted data (Proof.from_json, verify,
verify_batch, canonicalize_json, canonicalize, sign, key constructors) is fed
Hypothesis-generated garbage. Where PROTOCOL.md determines the code (a member
of the wrong type, a non-canonical encoding, ...), the exact code is asserted
from a small model of section 6 written here; otherwise any member of
pm.ERROR_CODES is accepted, but only through ProofMessengerError or a result
with valid False.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime
import decimal
import fractions
import json
import re
from typing import Any

import proof_messenger as pm
import protocol_reference as proto
import pytest
import strategies as S
from hypothesis import given
from hypothesis import strategies as st

SEED = bytes(range(32))
KEY = pm.SigningKey.from_bytes(SEED)
VK = KEY.verifying_key
TS = 1_764_331_200_000
AUD = "payments-api"
NONCE = proto.b64url(bytes(range(32)))
CONTEXT = {"action": "wire_transfer", "amount": "50000.00", "subject": "alice"}
PROOF = pm.sign(CONTEXT, KEY, audience=AUD, timestamp_ms=TS, nonce=NONCE)
WIRE = PROOF.to_json()
CODES = set(pm.ERROR_CODES)


def verdict(data: Any, **kw: Any) -> tuple[bool, str | None]:
    """verify() must return a result (valid False + a documented code), whatever `data` is."""
    kw.setdefault("trusted_keys", VK)
    result = pm.verify(data, audience=AUD, now_ms=TS, **kw)
    assert isinstance(result, pm.VerificationResult)
    if result.valid:
        assert result.code is None
    else:
        assert result.code in CODES and result.context is None
    return result.valid, result.code


def raised_code(call: Any) -> str | None:
    """The code of the ProofMessengerError `call` raises (None if it returns); anything else fails."""
    try:
        call()
    except pm.ProofMessengerError as e:
        assert e.code in CODES and isinstance(e.detail, str)
        return e.code
    return None


# The codes of PROTOCOL section 6 steps 5-9 with a fixed set of trusted keys (no missing_subject).
AFTER_PARSING = {
    "untrusted_key",
    "audience_mismatch",
    "timestamp_in_future",
    "proof_expired",
    "bad_signature",
}


def parse_code(data: Any, **kw: Any) -> str | None:
    return raised_code(lambda: pm.Proof.from_json(data, **kw))


# ------------------------------------------------------------------ raw garbage


@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    code = parse_code(data)
    valid, vcode = verdict(data)
    if code is not None:
        assert (valid, vcode) == (False, code)
    assert raised_code(lambda: pm.canonicalize_json(data)) in CODES | {None}


@given(st.text(max_size=200))
def test_random_text_including_lone_surrogates(text: str) -> None:
    """A str that cannot be UTF-8 (it holds a surrogate) is lone_surrogate, everywhere."""
    has_surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    code = parse_code(text)
    if has_surrogate:
        assert code == "lone_surrogate"
        assert raised_code(lambda: pm.canonicalize_json(text)) == "lone_surrogate"
    valid, vcode = verdict(text)
    if code is not None:
        assert (valid, vcode) == (False, code)


@given(st.binary(max_size=64), st.integers(0, len(WIRE)), st.sampled_from(["insert", "replace", "delete"]))
def test_mutated_proof_bytes(chunk: bytes, at: int, how: str) -> None:
    """Any splice into a valid proof is rejected, or is a re-spelling of the same proof."""
    if how == "insert":
        data = WIRE[:at] + chunk + WIRE[at:]
    elif how == "replace":
        data = WIRE[:at] + chunk + WIRE[at + len(chunk) :]
    else:
        data = WIRE[:at] + WIRE[at + max(1, len(chunk)) :]
    valid, code = verdict(data)
    parsed = parse_code(data)
    if valid:
        assert parsed is None and pm.Proof.from_json(data).to_json() == WIRE
    elif parsed is not None:
        assert code == parsed  # steps 1-4 failed: verify reports the parser's code
    else:
        # it parses, so a later step (PROTOCOL section 6, steps 5-9) refused it
        assert code in AFTER_PARSING, code


@given(
    st.sampled_from(
        [b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xff", b"\xc3", b"\xe2\x82"]
    ),
    st.integers(0, len(WIRE)),
)
def test_invalid_utf8_anywhere(bad: bytes, at: int) -> None:
    data = WIRE[:at] + bad + WIRE[at:]
    assert verdict(data) == (False, "invalid_utf8")
    assert parse_code(data) == "invalid_utf8"
    assert raised_code(lambda: pm.canonicalize_json(data)) == "invalid_utf8"


@given(st.integers(1, 200_000), st.integers(0, 100))
def test_oversize(extra: int, limit_slack: int) -> None:
    data = WIRE + b" " * extra
    limit = len(data) - 1 - min(limit_slack, len(WIRE))
    assert verdict(data, max_bytes=limit) == (False, "input_too_large")
    assert parse_code(data, max_bytes=limit) == "input_too_large"
    assert raised_code(lambda: pm.canonicalize_json(data, max_bytes=limit)) == "input_too_large"


def test_huge_inputs_do_not_crash() -> None:
    brackets = b"[" * 1_000_000
    assert raised_code(lambda: pm.canonicalize_json(brackets, max_bytes=2_000_000)) == "nesting_too_deep"
    assert (
        raised_code(lambda: pm.canonicalize_json(brackets, max_bytes=2_000_000, max_depth=10**7))
        == "invalid_json"
    )
    assert verdict(b"{" * 100_000, max_bytes=200_000) == (False, "invalid_json")
    assert verdict(b'{"a":' * 100_000, max_bytes=600_000) == (False, "nesting_too_deep")
    assert verdict(b"1" * 100_000, max_bytes=200_000) == (False, "non_finite_number")
    assert verdict(b"0." + b"1" * 100_000, max_bytes=200_000) == (False, "inexact_number")
    assert verdict(b'"' + b"a" * 1_000_000 + b'"', max_bytes=2_000_000) == (False, "invalid_type")


@given(st.integers(1, 120), st.sampled_from(["[", '{"k":']), st.integers(0, 40))
def test_deep_nesting(depth: int, opener: str, max_depth: int) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * depth + "0" + closer * depth
    code = raised_code(lambda: pm.canonicalize_json(text, max_depth=max_depth))
    assert code == (None if depth <= max_depth else "nesting_too_deep")
    deep: Any = 0
    for _ in range(depth):
        deep = [deep] if opener == "[" else {"k": deep}
    assert raised_code(lambda: pm.canonicalize(deep, max_depth=max_depth)) == code


def test_very_deep_python_values() -> None:
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert raised_code(lambda: pm.canonicalize(deep)) == "nesting_too_deep"
    assert raised_code(lambda: pm.sign({"x": deep}, KEY, audience=AUD)) == "nesting_too_deep"
    d = PROOF.to_dict()
    d["context"]["x"] = deep
    assert verdict(d) == (False, "nesting_too_deep")


def test_non_proof_objects() -> None:
    for thing in (
        None,
        1,
        1.5,
        True,
        object(),
        [],
        {1, 2},
        ["a"],
        {"version": 1},
        KEY,
        VK,
        WIRE.decode("latin-1").encode("utf-16"),
    ):
        valid, code = verdict(thing)
        assert not valid and code in CODES
        assert parse_code(thing) in CODES


# ------------------------------------------------------------ member by member (PROTOCOL 6, step 4)

MEMBERS = ["version", "algorithm", "context", "audience", "timestamp", "nonce", "publicKey", "signature"]
SPKI = bytes.fromhex("302a300506032b6570032100")


def canonical_b64(text: str) -> bytes | None:
    """RFC 4648 section 4 with canonical padding and zero trailing bits, else None."""
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) or len(text) % 4:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    return raw if base64.b64encode(raw).decode() == text else None


def canonical_b64url(text: str) -> bytes | None:
    """RFC 4648 section 5 without padding and with zero trailing bits, else None."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        return None
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return raw if proto.b64url(raw) == text else None


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


def model_code(name: str, value: Any) -> str | None:
    """Section 6 steps 4-9 for the wire proof with member `name` replaced by `value`."""
    if name == "version":
        if not is_number(value):
            return "invalid_field"
        if value != 1:
            return "unsupported_version"
        return None  # 1 and 1.0 are the same number: still valid
    if name == "algorithm":
        if not isinstance(value, str):
            return "invalid_field"
        return None if value == "Ed25519" else "unsupported_algorithm"
    if name == "context":
        if not isinstance(value, dict):
            return "invalid_field"
        subject = value.get("subject")
        if "subject" in value and not (isinstance(subject, str) and 1 <= utf8_len(subject) <= 255):
            return "invalid_field"
        return None if proto.canonical(value) == proto.canonical(CONTEXT) else "bad_signature"
    if name == "audience":
        if not (isinstance(value, str) and 1 <= utf8_len(value) <= 255):
            return "invalid_field"
        return None if value == AUD else "audience_mismatch"
    if name == "timestamp":
        if not (is_number(value) and float(value).is_integer() and 0 <= value <= 2**53 - 1):
            return "invalid_field"
        if value > TS + 30_000:
            return "timestamp_in_future"
        if TS > value + 300_000:
            return "proof_expired"
        return None if value == TS else "bad_signature"
    if name == "nonce":
        if not isinstance(value, str):
            return "invalid_field"
        raw = canonical_b64url(value)
        if raw is None:
            return "invalid_base64"
        if not 16 <= len(raw) <= 64:
            return "invalid_field"
        return None if value == NONCE else "bad_signature"
    if name == "publicKey":
        if not isinstance(value, str):
            return "invalid_field"
        raw = canonical_b64(value)
        if raw is None:
            return "invalid_base64"
        if not (len(raw) == 32 or (len(raw) == 44 and raw.startswith(SPKI))):
            return "invalid_public_key"
        return None if raw[-32:] == VK.to_bytes() else "untrusted_key"
    if name == "signature":
        if not isinstance(value, str):
            return "invalid_field"
        raw = canonical_b64(value)
        if raw is None:
            return "invalid_base64"
        if len(raw) != 64:
            return "invalid_field"
        return None if raw == PROOF.signature else "bad_signature"
    raise AssertionError(name)


URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
STD_ALPHABET = URL_ALPHABET[:62] + "+/"


def dirty_tail(text: str, alphabet: str, bits: int = 1) -> str:
    """``text`` (canonical base64 of a length not divisible by 3) with non-zero trailing
    bits in its last character: it decodes, leniently, to the same bytes."""
    body = text.rstrip("=")
    padding = text[len(body) :]
    last = alphabet.index(body[-1])
    assert last & bits == 0  # the trailing bits of a canonical spelling are zero
    return body[:-1] + alphabet[last | bits] + padding


def b64_variants(length: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    raw = length.flatmap(lambda n: st.binary(min_size=n, max_size=n))
    dirty = raw.filter(lambda b: len(b) % 3 != 0)
    return st.one_of(
        dirty.map(lambda b: dirty_tail(proto.b64url(b), URL_ALPHABET)),
        dirty.map(lambda b: dirty_tail(proto.b64(b), STD_ALPHABET)),
        raw.map(proto.b64),
        raw.map(proto.b64url),
        raw.map(lambda b: proto.b64(b).rstrip("=")),
        raw.map(lambda b: proto.b64(b) + "="),
        raw.map(lambda b: " " + proto.b64(b)),
        raw.map(lambda b: proto.b64(b)[:-2] + "A="),
        raw.map(lambda b: base64.b64encode(b).decode().replace("A", "-")),
    )


replacement_values = st.one_of(
    S.json_values,
    st.sampled_from(
        [
            1,
            1.0,
            2,
            0,
            -1,
            1.5,
            TS,
            TS + 1,
            TS - 1,
            TS + 0.5,
            2**53 - 1,
            2**53 + 0.0,
            TS + 40_000,
            TS - 400_000,
            "Ed25519",
            "ed25519",
            "EdDSA",
            "",
            "x" * 256,
            AUD,
            AUD + "x",
            "ü" * 128,
            NONCE,
            dirty_tail(NONCE, URL_ALPHABET),
            dirty_tail(NONCE, URL_ALPHABET, 2),
            VK.to_base64(),
            dirty_tail(VK.to_base64(), STD_ALPHABET),
            dirty_tail(PROOF.to_dict()["signature"], STD_ALPHABET),
            proto.b64(VK.to_spki_der()),
            proto.b64(bytes(32)),
            PROOF.to_dict()["signature"],
            {"subject": ""},
            {"subject": 1},
            {"subject": "alice"},
            dict(CONTEXT),
            [],
        ]
    ),
    b64_variants(st.sampled_from([0, 1, 15, 16, 31, 32, 33, 44, 63, 64, 65])),
    S.contexts(),
)


def test_a_respelled_nonce_is_invalid_base64_not_the_same_nonce() -> None:
    """The signature covers the nonce's bytes and replay stores key on its text: a second
    spelling of the same bytes (trailing bits set) must never verify."""
    for bits in (1, 2, 3):
        respelled = dirty_tail(NONCE, URL_ALPHABET, bits)
        assert base64.urlsafe_b64decode(respelled + "=") == base64.urlsafe_b64decode(NONCE + "=")
        d = json.loads(WIRE)
        d["nonce"] = respelled
        assert verdict(json.dumps(d)) == (False, "invalid_base64")
        assert raised_code(lambda d=d: pm.Proof.from_json(json.dumps(d))) == "invalid_base64"
    for member in ("publicKey", "signature"):
        d = json.loads(WIRE)
        d[member] = dirty_tail(d[member], STD_ALPHABET)
        assert verdict(json.dumps(d)) == (False, "invalid_base64"), member


@given(st.sampled_from(MEMBERS), replacement_values)
def test_member_replaced_by_anything(name: str, value: Any) -> None:
    """Each member replaced by any JSON value gives exactly the code of section 6."""
    d = json.loads(WIRE)
    d[name] = value
    text = json.dumps(d, allow_nan=False)
    want = model_code(name, value)
    assert verdict(text) == (want is None, want), (name, value)
    assert verdict(d) == (want is None, want), (name, value)


@given(
    st.sets(st.sampled_from(MEMBERS), min_size=1),
    st.dictionaries(S.text.filter(lambda k: k not in MEMBERS), S.json_values, max_size=2),
)
def test_missing_and_unknown_members(removed: set[str], extra: dict[str, Any]) -> None:
    d = {k: v for k, v in json.loads(WIRE).items() if k not in removed}
    d.update(extra)
    want = "unknown_field" if extra else "missing_field"
    assert verdict(json.dumps(d)) == (False, want)
    assert verdict(d) == (False, want)
    assert parse_code(json.dumps(d)) == want


@given(st.sampled_from(MEMBERS), st.booleans())
def test_duplicate_members(name: str, same_value: bool) -> None:
    d = json.loads(WIRE)
    value = json.dumps(d[name] if same_value else "other")
    text = WIRE.decode()[:-1] + f',"{name}":{value}' + "}"
    assert verdict(text) == (False, "duplicate_key")


@given(
    st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e400",
            "-1e999",
            "9007199254740993",
            "1e-400",
            "0.30000000000000001",
            "1152921504606846976",
            "12345678901234567890123",
        ]
    ),
    st.sampled_from(["version", "timestamp", "context"]),
)
def test_bad_number_tokens(token: str, where: str) -> None:
    d = json.loads(WIRE)
    if where == "context":
        text = json.dumps(d)[:-1]
        text = text.replace('"context": {', '"context": {"n": ' + token + ", ", 1) + "}"
    else:
        text = json.dumps(d).replace(f'"{where}": {d[where]}', f'"{where}": {token}', 1)
    want = (
        "non_finite_number"
        if token.lstrip("-") in ("NaN", "Infinity", "1e400", "1e999")
        else "inexact_number"
    )
    assert verdict(text) == (False, want)


@given(
    st.sampled_from(["\\ud800", "\\udfff", "\\ud800\\u0041", "\\udc00\\ud800", "\\ud83d"]),
    st.sampled_from(
        ["audience", "nonce", "publicKey", "signature", "algorithm", "context_value", "context_key"]
    ),
)
def test_lone_surrogate_escapes(escape: str, where: str) -> None:
    d = json.loads(WIRE)
    text = json.dumps(d)
    if where == "context_value":
        text = text.replace('"50000.00"', '"50000.00' + escape + '"')
    elif where == "context_key":
        text = text.replace('"amount"', '"amo' + escape + 'unt"')
    else:
        text = text.replace(f'"{where}": "', f'"{where}": "' + escape, 1)
    assert verdict(text) == (False, "lone_surrogate")


# ------------------------------------------------------------------ Python values


class Custom:
    pass


UNSUPPORTED = [
    b"bytes",
    bytearray(b"x"),
    memoryview(b"x"),
    {1, 2},
    frozenset(),
    1j,
    datetime.date(2025, 1, 1),
    decimal.Decimal("1.5"),
    fractions.Fraction(1, 3),
    object(),
    Custom(),
    print,
    range(3),
    Ellipsis,
    type,
    collections.deque([1]),
]


@given(S.contexts(), st.sampled_from(UNSUPPORTED), st.data())
def test_unsupported_python_values_in_contexts(
    context: dict[str, Any], bad: Any, data: st.DataObject
) -> None:
    key = data.draw(S.text)
    context[key] = [bad] if data.draw(st.booleans()) else bad
    assert raised_code(lambda: pm.canonicalize(context)) == "invalid_type"
    assert raised_code(lambda: pm.sign(context, KEY, audience=AUD)) == "invalid_type"
    d = PROOF.to_dict()
    d["context"] = context
    assert verdict(d) == (False, "invalid_type")


@given(
    st.one_of(st.integers(), st.none(), st.booleans(), st.tuples(st.integers()), st.floats(allow_nan=False))
)
def test_non_string_keys(key: Any) -> None:
    value = {key: 1}
    assert raised_code(lambda: pm.canonicalize(value)) == "invalid_type"
    assert raised_code(lambda: pm.sign(value, KEY, audience=AUD)) == "invalid_type"


@given(st.sampled_from([float("nan"), float("inf"), float("-inf")]), st.booleans())
def test_non_finite_python_floats(value: float, nested: bool) -> None:
    context = {"x": [value] if nested else value}
    assert raised_code(lambda: pm.canonicalize(context)) == "non_finite_number"
    assert raised_code(lambda: pm.sign(context, KEY, audience=AUD)) == "non_finite_number"
    d = PROOF.to_dict()
    d["context"] = context
    assert verdict(d) == (False, "non_finite_number")


@given(S.text, st.sampled_from(["\ud800", "\udfff", "\udbff\udbff"]), st.booleans())
def test_lone_surrogates_in_python_strings(prefix: str, surrogate: str, as_key: bool) -> None:
    s = prefix + surrogate
    context = {s: 1} if as_key else {"x": s}
    assert raised_code(lambda: pm.canonicalize(context)) == "lone_surrogate"
    assert raised_code(lambda: pm.sign(context, KEY, audience=AUD)) == "lone_surrogate"
    d = PROOF.to_dict()
    d["context"] = context
    assert verdict(d) == (False, "lone_surrogate")


@given(S.text, st.sampled_from(["\ud800", "\udfff"]))
def test_lone_surrogates_in_sign_arguments(prefix: str, surrogate: str) -> None:
    """Audience and nonce are host strings too: an unpaired surrogate is lone_surrogate (section 3)."""
    s = prefix + surrogate
    assert raised_code(lambda: pm.sign(CONTEXT, KEY, audience=s)) == "lone_surrogate"
    assert raised_code(lambda: pm.sign(CONTEXT, KEY, audience=AUD, nonce=NONCE + s)) == "lone_surrogate"


@given(S.text, st.sampled_from(["\ud800", "\udfff"]))
def test_lone_surrogates_in_key_text_inputs(prefix: str, surrogate: str) -> None:
    """Key texts come from outside (a proof's publicKey, a PEM file): lone_surrogate, no UnicodeError."""
    s = prefix + surrogate
    assert raised_code(lambda: pm.VerifyingKey.from_base64(VK.to_base64()[:-4] + s)) == "lone_surrogate"
    assert raised_code(lambda: pm.VerifyingKey.from_pem(VK.to_pem().decode() + s)) == "lone_surrogate"
    assert raised_code(lambda: pm.SigningKey.from_pem(s + KEY.to_pem().decode())) == "lone_surrogate"


@pytest.mark.parametrize("digits", [309, 310, 400, 4_300, 4_301, 5_000, 100_000])
def test_huge_python_ints_overflow_like_literals(digits: int) -> None:
    """A Python int beyond the double range is the literal of the same digits: non_finite_number.

    PROTOCOL section 3: a number literal that overflows the double range is
    non_finite_number, and sign(dict) must agree with verify(bytes). Python
    ints are JSON numbers (json.dumps writes them as literals), so their size
    must not change the code.
    """
    literal = "1" + "0" * (digits - 1)
    n = 10 ** (digits - 1)
    want = "non_finite_number" if digits > 309 else None
    assert raised_code(lambda: pm.canonicalize_json(literal, max_bytes=200_000)) == want
    assert raised_code(lambda: pm.canonicalize(n)) == want
    assert raised_code(lambda: pm.canonicalize(-n)) == want
    assert raised_code(lambda: pm.sign({"n": n}, KEY, audience=AUD)) == want


@given(st.integers(min_value=2**53 + 1, max_value=2**64))
def test_python_ints_beyond_2_53_follow_the_literal_rule(n: int) -> None:
    want = None if decimal.Decimal(repr(float(n))) == n else "inexact_number"
    assert raised_code(lambda: pm.canonicalize_json(str(n))) == want
    assert raised_code(lambda: pm.canonicalize({"n": n})) == want
    assert raised_code(lambda: pm.sign({"n": n}, KEY, audience=AUD)) == want


# ------------------------------------------------------------------ keys and other entry points


@given(st.binary(max_size=100))
def test_key_constructors_on_garbage(data: bytes) -> None:
    code = raised_code(lambda: pm.VerifyingKey.from_bytes(data))
    if len(data) not in (32, 44):
        assert code == "invalid_public_key"
    assert raised_code(lambda: pm.VerifyingKey.from_pem(data)) in CODES
    assert raised_code(lambda: pm.SigningKey.from_pem(data)) in CODES
    assert raised_code(lambda: pm.SigningKey.from_pkcs8_der(data)) in CODES
    text = data.decode("latin-1")
    assert raised_code(lambda: pm.VerifyingKey.from_base64(text)) in CODES | {None}


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=50),
            st.text(max_size=50),
            st.just(WIRE),
            st.none(),
            st.integers(),
            st.dictionaries(st.text(max_size=5), S.json_values, max_size=3),
        ),
        max_size=20,
    )
)
def test_batch_of_garbage(items: list[Any]) -> None:
    results = pm.verify_batch(items, audience=AUD, trusted_keys=VK, now_ms=TS)
    assert len(results) == len(items)
    for item, result in zip(items, results, strict=True):
        single = pm.verify(item, audience=AUD, trusted_keys=VK, now_ms=TS)
        assert (result.valid, result.code) == (single.valid, single.code)
        assert result.valid or result.code in CODES

"""Property tests: round trips, tamper detection, batch == single, canonical form == rfc8785.

Oracles are independent of the package: rfc8785 (JCS), tests/protocol_reference.py
(sections 2-4) and tests/ed25519_reference.py (section 5).
"""

from __future__ import annotations

import base64
import json
import math
import struct
from decimal import Decimal
from functools import cache
from typing import Any

import ed25519_reference as ref
import proof_messenger as pm
import protocol_reference as proto
import rfc8785
import strategies as S
import vectors_util as vu
from hypothesis import assume, given
from hypothesis import strategies as st

SEED = bytes(range(32))
KEY = pm.SigningKey.from_bytes(SEED)
VK = KEY.verifying_key
A_SECRET, _ = ref.expand_seed(SEED)
RAW = VK.to_bytes()


def verify(proof: Any, audience: str, now: int, **kw: Any) -> pm.VerificationResult:
    kw.setdefault("trusted_keys", VK)
    return pm.verify(proof, audience=audience, now_ms=now, **kw)


def sign(
    context: dict[str, Any], audience: str = "aud", ts: int = 1_000, nonce: bytes = bytes(16)
) -> pm.Proof:
    return pm.sign(context, KEY, audience=audience, timestamp_ms=ts, nonce=proto.b64url(nonce))


# ------------------------------------------------------------------ round trip


@given(S.contexts(), S.audiences, S.timestamps, S.nonce_bytes)
def test_sign_verify_round_trip(context: dict[str, Any], audience: str, ts: int, nonce: bytes) -> None:
    proof = sign(context, audience, ts, nonce)
    text = proof.to_json()
    for form in (proof, text, text.decode("utf-8"), proof.to_dict(), pm.Proof.from_json(text)):
        result = verify(form, audience, ts)
        assert (result.valid, result.code) == (True, None)
        assert result.context == context
        assert result.subject == context.get("subject")
        assert (
            result.nonce == proto.b64url(nonce) and result.timestamp_ms == ts and result.audience == audience
        )
    # The same bytes from first principles: rfc8785 + hashlib + struct, and libsodium agrees.
    env = proto.envelope(context, audience, ts, proto.b64url(nonce))
    assert proof.signing_payload == env["payload"]
    assert proof.signed_digest == env["signed_digest"]
    assert proof.signature == proto.ed25519_sign(SEED, env["signed_digest"])
    assert text == proto.canonical(
        proto.proof_dict(context, audience, ts, proto.b64url(nonce), RAW, proof.signature)
    )


# ------------------------------------------------------------------ tampering


def wire_dict(proof: pm.Proof) -> dict[str, Any]:
    """The proof as Python's json reads its text (numbers as written), to tamper with and re-serialise."""
    value: dict[str, Any] = proto.loads(proof.to_json())
    return value


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@given(S.contexts(), st.integers(0, 511))
def test_flipping_a_signature_bit_fails(context: dict[str, Any], bit: int) -> None:
    proof = sign(context)
    bad = flip(proof.signature, bit)
    d = wire_dict(proof)
    d["signature"] = proto.b64(bad)
    assert ref.rejection(RAW, proof.signed_digest, bad) is not None
    assert verify(d, "aud", 1_000).code == "bad_signature"
    assert verify(proto.canonical(d), "aud", 1_000).code == "bad_signature"


@given(S.contexts(), st.integers(0, 255))
def test_flipping_a_public_key_bit_fails(context: dict[str, Any], bit: int) -> None:
    proof = sign(context)
    other = flip(RAW, bit)
    d = wire_dict(proof)
    d["publicKey"] = proto.b64(other)
    # The original key no longer matches: untrusted.
    assert verify(d, "aud", 1_000).code == "untrusted_key"
    # Trusting the flipped key: it is refused (oracle's code) or the signature fails.
    oracle = ref.key_verdict(other)
    try:
        flipped_key = pm.VerifyingKey.from_bytes(other)
    except pm.ProofMessengerError as e:
        assert e.code == oracle
        return
    assert oracle is None
    assert verify(d, "aud", 1_000, trusted_keys=[VK, flipped_key]).code == "bad_signature"


@given(S.contexts(), S.nonce_bytes, st.data())
def test_flipping_a_nonce_bit_fails(context: dict[str, Any], nonce: bytes, data: st.DataObject) -> None:
    proof = sign(context, nonce=nonce)
    d = wire_dict(proof)
    d["nonce"] = proto.b64url(flip(nonce, data.draw(st.integers(0, len(nonce) * 8 - 1))))
    assert verify(d, "aud", 1_000).code == "bad_signature"


@given(S.contexts(), S.timestamps, st.integers(0, 52))
def test_flipping_a_timestamp_bit_fails(context: dict[str, Any], ts: int, bit: int) -> None:
    proof = sign(context, ts=ts)
    d = wire_dict(proof)
    d["timestamp"] = ts ^ (1 << bit)
    assert (
        verify(d, "aud", d["timestamp"]).code == "bad_signature"
    )  # fresh at the new time: only the signature fails
    assert not verify(d, "aud", ts).valid


def flip_char(text: str, index: int, bit: int) -> str | None:
    """`text` with one bit of one code point flipped, or None if that is not a scalar value."""
    cp = ord(text[index]) ^ (1 << bit)
    if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        return None
    return text[:index] + chr(cp) + text[index + 1 :]


@given(S.contexts(), S.audiences, st.data())
def test_flipping_an_audience_bit_fails(context: dict[str, Any], audience: str, data: st.DataObject) -> None:
    proof = sign(context, audience=audience)
    changed = flip_char(audience, data.draw(st.integers(0, len(audience) - 1)), data.draw(st.integers(0, 20)))
    assume(changed is not None and len(changed.encode()) <= 255)
    d = wire_dict(proof)
    d["audience"] = changed
    assert verify(d, changed, 1_000).code == "bad_signature"
    assert verify(d, audience, 1_000).code == "audience_mismatch"


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every scalar, plus ("key", path, name) entries for every member name."""
    if isinstance(value, dict):
        out: list[tuple[Any, ...]] = []
        for k, v in value.items():
            out.append(("key", path, k))
            out.extend(leaf_paths(v, (*path, k)))
        return out
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaf_paths(v, (*path, i))]
    return [("value", path)]


def mutate_scalar(value: Any, draw: Any) -> Any:
    if value is None:
        return False
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value ^ (1 << draw(st.integers(0, 52)))
    if isinstance(value, float):
        bits = struct.unpack("<Q", struct.pack("<d", value))[0] ^ (1 << draw(st.integers(0, 63)))
        return struct.unpack("<d", struct.pack("<Q", bits))[0]
    if value == "":
        return "\x00"
    return flip_char(value, draw(st.integers(0, len(value) - 1)), draw(st.integers(0, 20)))


def get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@given(S.contexts(), st.data())
def test_changing_any_context_value_or_name_fails(context: dict[str, Any], data: st.DataObject) -> None:
    assume(context)
    proof = sign(context)
    d = wire_dict(proof)
    target = data.draw(st.sampled_from(leaf_paths(d["context"])))
    if target[0] == "key":
        _, path, name = target
        parent = get(d["context"], path)
        new_name = mutate_scalar(name, data.draw)
        assume(new_name is not None and new_name not in parent)
        parent[new_name] = parent.pop(name)
    else:
        path = target[1]
        old = get(d["context"], path)
        new = mutate_scalar(old, data.draw)
        assume(new is not None and not (isinstance(new, float) and not math.isfinite(new)))
        # Equal JSON values (0.0 and -0.0, 2 and 2.0) are not a change.
        assume(pm.canonicalize([new]) != pm.canonicalize([old]))
        get(d["context"], path[:-1])[path[-1]] = new
    subject = d["context"].get("subject")
    assume(subject is None or (isinstance(subject, str) and 1 <= len(subject.encode()) <= 255))
    assert verify(d, "aud", 1_000).code == "bad_signature"
    assert verify(json.dumps(d, ensure_ascii=False), "aud", 1_000).code == "bad_signature"


# ------------------------------------------------------------------ oracle cross-check


@given(
    S.contexts(),
    st.sampled_from(["s_plus_kl", "torsion_r", "small_order_r", "random_r", "random_s", "honest"]),
    st.data(),
)
def test_signature_verdicts_equal_the_reference_rule(
    context: dict[str, Any], kind: str, data: st.DataObject
) -> None:
    proof = sign(context)
    msg, sig = proof.signed_digest, proof.signature
    torsion = ref.torsion_points()
    if kind == "s_plus_kl":
        s = int.from_bytes(sig[32:], "little") + data.draw(st.integers(1, 15)) * ref.L
        sig = sig[:32] + s.to_bytes(32, "little")
    elif kind == "torsion_r":
        r = data.draw(st.integers(1, ref.L - 1))
        r_bytes = (ref.BASE * r + torsion[data.draw(st.integers(0, 7))]).encode()
        s = (r + ref.challenge(r_bytes, RAW, msg) * A_SECRET) % ref.L
        sig = r_bytes + s.to_bytes(32, "little")
    elif kind == "small_order_r":
        r_bytes = torsion[data.draw(st.integers(0, 7))].encode()
        sig = r_bytes + (ref.challenge(r_bytes, RAW, msg) * A_SECRET % ref.L).to_bytes(32, "little")
    elif kind == "random_r":
        sig = data.draw(st.binary(min_size=32, max_size=32)) + sig[32:]
    elif kind == "random_s":
        sig = sig[:32] + data.draw(st.integers(0, 2**256 - 1)).to_bytes(32, "little")
    d = wire_dict(proof)
    d["signature"] = proto.b64(sig)
    want = ref.verify(RAW, msg, sig)
    if kind in ("torsion_r", "honest"):
        assert want
    result = verify(d, "aud", 1_000)
    assert (result.valid, result.code) == (want, None if want else "bad_signature")


# ------------------------------------------------------------------ batch == single

AUD = "edge-tests"
NOW = 1_764_331_200_000


@cache
def pool() -> tuple[list[tuple[bytes, str | None]], list[pm.VerifyingKey], dict[str, list[pm.VerifyingKey]]]:
    """Proof inputs with their verdict under fixed trust, the trusted keys, and a subject table."""
    keys = [pm.SigningKey.from_bytes(bytes([i]) * 32) for i in (1, 2, 3)]
    outsider = pm.SigningKey.from_bytes(bytes([9]) * 32)
    subjects = ["alice", "bob", "carol"]
    items: list[tuple[bytes, str | None]] = []

    def add(proof: pm.Proof | dict[str, Any] | bytes, code: str | None) -> None:
        if isinstance(proof, pm.Proof):
            proof = proof.to_json()
        elif isinstance(proof, dict):
            proof = json.dumps(proof).encode()
        items.append((proof, code))

    def make(i: int, key: pm.SigningKey | None = None, ts: int = NOW, **extra: Any) -> pm.Proof:
        signer = key or keys[i % 3]
        ctx = {"subject": subjects[i % 3], "i": i, **extra}
        return pm.sign(
            ctx, signer, audience=AUD, timestamp_ms=ts - i, nonce=proto.b64url(i.to_bytes(16, "big"))
        )

    for i in range(40):
        add(make(i), None)
    for i in range(40, 50):
        d = make(i).to_dict()
        d["context"]["i"] = -i
        add(d, "bad_signature")
    for i in range(50, 56):
        d = make(i).to_dict()
        d["signature"] = proto.b64(flip(base64.b64decode(d["signature"]), i * 7))
        add(d, "bad_signature")
    for i in range(56, 60):
        d = make(i, key=outsider).to_dict()
        d["publicKey"] = keys[i % 3].verifying_key.to_base64()
        add(d, "bad_signature")
    add(make(60, key=outsider), "untrusted_key")
    add(make(61, ts=NOW - 400_000), "proof_expired")
    add(make(62, ts=NOW + 60_000), "timestamp_in_future")
    add(pm.sign({"subject": "alice"}, keys[0], audience="other", timestamp_ms=NOW), "audience_mismatch")
    for garbage, code in [
        (b"", "invalid_json"),
        (b"{", "invalid_json"),
        (b"[]", "invalid_type"),
        (b"\xff", "invalid_utf8"),
        (b'{"a":NaN}', "non_finite_number"),
        (b'{"a":1,"a":1}', "duplicate_key"),
        (b'"\\ud800"', "lone_surrogate"),
        (b"[" * 40 + b"]" * 40, "nesting_too_deep"),
        (b" " * 70_000, "input_too_large"),
        (b"{}", "missing_field"),
    ]:
        add(garbage, code)
    d = make(63).to_dict()
    d["extra"] = True
    add(d, "unknown_field")
    d = make(64).to_dict()
    d["version"] = 2
    add(d, "unsupported_version")
    for case in vu.load("ed25519_edge.json")["signatures"]:
        add(case["proof_json"].encode(), case["proof_expected"]["code"])
    edge_keys = {
        pm.VerifyingKey.from_base64(c["proof_policy"]["trusted_public_keys_b64"][0])
        for c in vu.load("ed25519_edge.json")["signatures"]
    }
    trusted = [k.verifying_key for k in keys] + sorted(edge_keys, key=lambda k: k.key_id)
    table = {s: [keys[i].verifying_key] for i, s in enumerate(subjects)}
    return items, trusted, table


def as_form(data: bytes, form: str) -> Any:
    try:
        if form == "str":
            return data.decode("utf-8")
        if form == "dict":
            pm.canonicalize_json(data)  # only JSON the protocol accepts keeps its meaning as a dict
            value = json.loads(data)
            return value if isinstance(value, dict) else data
        if form == "proof":
            return pm.Proof.from_json(data)
    except (ValueError, pm.ProofMessengerError):
        return data
    return data


def outcome(result: pm.VerificationResult) -> tuple[Any, ...]:
    return (
        result.valid,
        result.code,
        result.key_id,
        result.nonce,
        result.timestamp_ms,
        result.expires_at_ms,
        result.context,
        result.signed_digest,
    )


@given(
    st.lists(
        st.tuples(st.integers(0, 10_000), st.sampled_from(["bytes", "str", "dict", "proof"])), max_size=300
    ),
    st.booleans(),
)
def test_batch_equals_single(picks: list[tuple[int, str]], per_subject: bool) -> None:
    items, trusted, table = pool()
    chosen = [(items[i % len(items)], form) for i, form in picks]
    inputs = [as_form(data, form) for (data, _), form in chosen]
    keywords: dict[str, Any] = {"audience": AUD, "now_ms": NOW}
    if per_subject:
        keywords["resolver"] = lambda subject: table.get(subject, [])
    else:
        keywords["trusted_keys"] = trusted
    batch = pm.verify_batch(inputs, **keywords)
    single = [pm.verify(x, **keywords) for x in inputs]
    assert [outcome(r) for r in batch] == [outcome(r) for r in single]
    if not per_subject:
        assert [r.code for r in batch] == [code for (_, code), _ in chosen]


# ------------------------------------------------------------------ canonical form


@given(S.json_values)
def test_canonical_equals_rfc8785(value: Any) -> None:
    want = rfc8785.dumps(value)
    assert pm.canonicalize(value) == want


@given(S.json_values, st.booleans(), st.sampled_from([None, 0, 2, "\t"]), st.booleans())
def test_canonical_of_any_spelling_equals_rfc8785(
    value: Any, ascii_only: bool, indent: Any, sort: bool
) -> None:
    """However the JSON text is spelled (escapes, whitespace, order), the canonical form is the same."""
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent, sort_keys=sort, allow_nan=False)
    want = rfc8785.dumps(value)
    assert pm.canonicalize_json(text) == want
    assert pm.canonicalize_json(text.encode("utf-8")) == want


def es_round_trips(n: int) -> bool:
    """PROTOCOL section 3: the literal equals the shortest print of its nearest double."""
    return Decimal(repr(float(n))) == Decimal(n)


@given(
    st.one_of(
        st.integers(2**53 - 10, 2**80),
        st.integers(-(2**80), -(2**53 - 10)),
        st.integers(0, 2**40).map(lambda k: k * 10**15),
    )
)
def test_large_integers_follow_the_round_trip_rule(n: int) -> None:
    """Beyond 2^53 the rfc8785 package refuses integers; the protocol's rule is checked directly."""
    want: bytes | str = rfc8785.dumps(float(n)) if es_round_trips(n) else "inexact_number"
    for call in (
        lambda: pm.canonicalize(n),
        lambda: pm.canonicalize_json(str(n)),
        lambda: pm.canonicalize([n]),
    ):
        try:
            got: bytes | str = call()
        except pm.ProofMessengerError as e:
            got = e.code
        if isinstance(got, bytes) and got.startswith(b"["):
            got = got[1:-1]
        assert got == want, n


@given(st.integers(310, 4_000), st.booleans())
def test_integers_beyond_the_double_range_are_non_finite(digits: int, negative: bool) -> None:
    n = (-1 if negative else 1) * 10 ** (digits - 1)
    for call in (lambda: pm.canonicalize(n), lambda: pm.canonicalize_json(str(n), max_bytes=10_000)):
        try:
            call()
        except pm.ProofMessengerError as e:
            assert e.code == "non_finite_number"
        else:
            raise AssertionError("accepted")


@given(S.json_values)
def test_canonicalisation_is_idempotent(value: Any) -> None:
    once = pm.canonicalize(value)
    assert pm.canonicalize_json(once) == once
    assert pm.canonicalize(json.loads(once)) == once
    assert pm.canonicalize(proto.loads(once)) == once


@given(S.contexts(), st.sampled_from([None, 1, "  "]))
def test_proof_parse_serialise_is_idempotent(context: dict[str, Any], indent: Any) -> None:
    proof = sign(context)
    canonical = proof.to_json()
    respelled = json.dumps(json.loads(canonical), indent=indent, ensure_ascii=True)
    again = pm.Proof.from_json(respelled)
    assert again.to_json() == canonical
    assert pm.Proof.from_json(again.to_json()).to_json() == canonical
    assert again.signed_digest == proof.signed_digest

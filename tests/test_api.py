"""The Python API of docs/PYTHON_API.md: keys, signing, verification, results, threads."""

from __future__ import annotations

import base64
import collections
import hashlib
import sys
import threading
import time
import types
from typing import Any

import proof_messenger as pm
import protocol_reference as proto
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SEED = bytes(range(32))
KEY = pm.SigningKey.from_bytes(SEED)
VK = KEY.verifying_key
OTHER = pm.SigningKey.from_bytes(bytes(range(1, 33)))
TS = 1_764_331_200_000
CTX = {"action": "wire_transfer", "amount": "50000.00", "subject": "alice"}


def make(context: dict[str, Any] | None = None, key: pm.SigningKey = KEY, **kw: Any) -> pm.Proof:
    kw.setdefault("audience", "payments-api")
    kw.setdefault("timestamp_ms", TS)
    return pm.sign(CTX if context is None else context, key, **kw)


def code_of(call: Any) -> str | None:
    try:
        call()
    except pm.ProofMessengerError as e:
        return e.code
    return None


# ------------------------------------------------------------------ keys


def test_generate_gives_distinct_valid_keys() -> None:
    keys = [pm.SigningKey.generate() for _ in range(20)]
    assert len({k.to_bytes() for k in keys}) == 20
    assert len({k.verifying_key for k in keys}) == 20
    for k in keys:
        proof = make(key=k)
        assert pm.verify(proof, audience="payments-api", trusted_keys=k.verifying_key, now_ms=TS).valid


def test_signing_key_bytes_round_trip() -> None:
    assert pm.SigningKey.from_bytes(KEY.to_bytes()).verifying_key == VK
    assert KEY.to_bytes() == SEED
    assert VK.to_bytes() == proto.public_key(SEED)


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_signing_key_wrong_length(length: int) -> None:
    assert code_of(lambda: pm.SigningKey.from_bytes(bytes(length))) == "invalid_field"


def test_signing_key_pem_round_trip_and_interop_with_cryptography() -> None:
    pem = KEY.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert pm.SigningKey.from_pem(pem).to_bytes() == SEED
    assert pm.SigningKey.from_pem(pem.decode()).to_bytes() == SEED
    theirs = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(theirs, Ed25519PrivateKey)
    assert (
        theirs.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        == SEED
    )
    made = Ed25519PrivateKey.generate()
    their_pem = made.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ours = pm.SigningKey.from_pem(their_pem)
    raw_pub = made.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert ours.verifying_key.to_bytes() == raw_pub
    der = made.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert pm.SigningKey.from_pkcs8_der(der).verifying_key.to_bytes() == raw_pub
    assert KEY.to_pkcs8_der() == serialization.load_pem_private_key(pem, None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_encrypted_or_garbage_private_pem_is_rejected_with_a_code() -> None:
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    for bad, code in (
        (encrypted, "invalid_field"),
        (b"", "invalid_field"),
        (b"-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n", "invalid_base64"),
        (VK.to_pem(), "invalid_field"),  # a public key where a private key is expected
    ):
        assert code_of(lambda bad=bad: pm.SigningKey.from_pem(bad)) == code, bad


def test_verifying_key_encodings() -> None:
    raw = VK.to_bytes()
    spki = VK.to_spki_der()
    assert len(raw) == 32 and len(spki) == 44 and spki == proto.spki(raw)
    assert VK.to_base64() == base64.b64encode(raw).decode()
    for other in (
        pm.VerifyingKey.from_bytes(raw),
        pm.VerifyingKey.from_bytes(spki),
        pm.VerifyingKey.from_base64(VK.to_base64()),
        pm.VerifyingKey.from_base64(base64.b64encode(spki).decode()),
        pm.VerifyingKey.from_pem(VK.to_pem()),
        pm.VerifyingKey.from_pem(VK.to_pem().decode()),
    ):
        assert other == VK and hash(other) == hash(VK) and other.key_id == VK.key_id
    theirs = serialization.load_pem_public_key(VK.to_pem())
    assert isinstance(theirs, Ed25519PublicKey)
    assert (
        theirs.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        == spki
    )
    their_pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert pm.VerifyingKey.from_pem(their_pem) == VK


def test_verifying_keys_hash_and_compare() -> None:
    keys = {VK, pm.VerifyingKey.from_bytes(VK.to_spki_der()), OTHER.verifying_key}
    assert len(keys) == 2
    assert VK != OTHER.verifying_key
    assert VK != VK.to_bytes()


def test_key_id_is_the_rfc7638_thumbprint() -> None:
    raw = VK.to_bytes()
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    jwk = '{"crv":"Ed25519","kty":"OKP","x":"' + x + '"}'
    want = base64.urlsafe_b64encode(hashlib.sha256(jwk.encode()).digest()).rstrip(b"=").decode()
    assert VK.key_id == KEY.key_id == want
    assert len(want) == 43 and "=" not in want
    # RFC 8037 appendix A.3 (the RFC 8032 TEST 1 key).
    rfc = pm.VerifyingKey.from_bytes(
        bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    )
    assert rfc.key_id == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x00" * 31, b"\x00" * 33, b"\x00" * 45, bytes.fromhex("302a300506032b656e032100") + bytes(32)],
)
def test_verifying_key_wrong_shapes(bad: bytes) -> None:
    assert code_of(lambda: pm.VerifyingKey.from_bytes(bad)) == "invalid_public_key"


def test_verifying_key_base64_and_pem_errors() -> None:
    assert code_of(lambda: pm.VerifyingKey.from_base64(VK.to_base64().rstrip("="))) == "invalid_base64"
    assert code_of(lambda: pm.VerifyingKey.from_base64("@@@@")) == "invalid_base64"
    assert code_of(lambda: pm.VerifyingKey.from_pem(b"not a pem")) == "invalid_field"
    assert code_of(lambda: pm.VerifyingKey.from_pem(KEY.to_pem())) == "invalid_field"  # a private key PEM


def test_repr_never_shows_secrets() -> None:
    secret_forms = [
        SEED.hex(),
        base64.b64encode(SEED).decode(),
        base64.urlsafe_b64encode(SEED).decode().rstrip("="),
        KEY.to_pem().decode().splitlines()[1],
        base64.b64encode(KEY.to_pkcs8_der()).decode(),
    ]
    shown = [repr(KEY), str(KEY), f"{KEY!r}", repr([KEY]), repr(make())]
    for text in shown:
        for secret in secret_forms:
            assert secret not in text
            assert secret[:16] not in text
    assert KEY.key_id in repr(KEY)


# ------------------------------------------------------------------ sign


def test_sign_defaults() -> None:
    before = pm.now_ms()
    a, b = pm.sign(CTX, KEY, audience="x"), pm.sign(CTX, KEY, audience="x")
    after = pm.now_ms()
    assert before <= a.timestamp_ms <= b.timestamp_ms <= after
    assert a.nonce != b.nonce
    for p in (a, b):
        assert len(p.nonce) == 43 and len(proto.b64url_decode(p.nonce)) == 32
    assert pm.verify(a, audience="x", trusted_keys=VK).valid  # default clock on both sides


def test_sign_is_deterministic_given_nonce_and_timestamp() -> None:
    nonce = proto.b64url(bytes(16))
    assert make(nonce=nonce).to_json() == make(nonce=nonce).to_json()
    assert make(nonce=nonce).to_json() == proto.canonical(
        proto.sign_proof(CTX, SEED, "payments-api", TS, nonce)
    )


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"audience": ""}, "invalid_field"),
        ({"audience": "x" * 256}, "invalid_field"),
        ({"nonce": proto.b64url(bytes(15))}, "invalid_field"),
        ({"nonce": proto.b64url(bytes(65))}, "invalid_field"),
        ({"nonce": proto.b64url(bytes(16)) + "="}, "invalid_base64"),
        ({"nonce": "not base64!"}, "invalid_base64"),
        ({"timestamp_ms": 2**53}, "invalid_field"),
        ({"timestamp_ms": -1}, "invalid_field"),
    ],
)
def test_sign_rejects_bad_envelope_members(kwargs: dict[str, Any], code: str) -> None:
    assert code_of(lambda: make(**kwargs)) == code


@pytest.mark.parametrize(
    ("context", "code"),
    [
        ({"subject": ""}, "invalid_field"),
        ({"subject": 1}, "invalid_field"),
        ({"subject": "x" * 256}, "invalid_field"),
        ({"x": float("nan")}, "non_finite_number"),
        ({"x": b"bytes"}, "invalid_type"),
        ({1: "int key"}, "invalid_type"),
        ({"x": "\ud800"}, "lone_surrogate"),
        ({"x": 2**53 + 1}, "inexact_number"),
    ],
)
def test_sign_rejects_bad_contexts(context: dict[Any, Any], code: str) -> None:
    assert code_of(lambda: make(context)) == code


def test_sign_accepts_any_mapping_as_documented() -> None:
    """PYTHON_API.md: sign(context: Mapping[str, JSON], ...)."""
    for mapping in (
        types.MappingProxyType(dict(CTX)),
        collections.OrderedDict(CTX),
        collections.ChainMap(dict(CTX)),
    ):
        proof = make(mapping, nonce=proto.b64url(bytes(16)))  # type: ignore[arg-type]
        assert proof.to_json() == make(dict(CTX), nonce=proto.b64url(bytes(16))).to_json()


def test_sign_enforces_max_bytes_and_depth() -> None:
    assert code_of(lambda: make({"x": "a" * 70_000})) == "input_too_large"
    assert code_of(lambda: make({"x": "a" * 1_000}, max_bytes=500)) == "input_too_large"
    deep: Any = []
    for _ in range(29):
        deep = [deep]
    make({"deep": deep})  # proof (1) > context (2) > 30 arrays = depth 32
    assert code_of(lambda: make({"deep": [deep]})) == "nesting_too_deep"


# ------------------------------------------------------------------ proof object


def test_proof_properties() -> None:
    proof = make(nonce=proto.b64url(bytes(range(16))))
    assert proof.context == CTX and proof.subject == "alice"
    assert proof.audience == "payments-api" and proof.timestamp_ms == TS
    assert proof.nonce == proto.b64url(bytes(range(16)))
    assert proof.public_key == VK and proof.key_id == VK.key_id
    assert len(proof.signature) == 64
    env = proto.envelope(CTX, "payments-api", TS, proof.nonce)
    assert proof.context_digest == env["context_digest"]
    assert proof.signing_payload == env["payload"]
    assert proof.signed_digest == env["signed_digest"]
    d = proof.to_dict()
    assert set(d) == {
        "version",
        "algorithm",
        "context",
        "audience",
        "timestamp",
        "nonce",
        "publicKey",
        "signature",
    }
    assert d["publicKey"] == VK.to_base64() and d["version"] == 1 and d["algorithm"] == "Ed25519"
    assert pm.parse_proof(proof.to_json()).to_json() == proof.to_json()
    assert pm.Proof.from_json(proof.to_json().decode()).to_json() == proof.to_json()
    # repr shows the envelope, never the context (which may be sensitive)
    shown = repr(proof)
    assert "alice" not in shown and "50000" not in shown and "wire_transfer" not in shown
    assert shown == (
        f'Proof(key_id="{VK.key_id}", audience="payments-api", '
        f'nonce="{proto.b64url(bytes(range(16)))}", timestamp_ms={TS})'
    )


def test_proof_context_is_a_fresh_copy() -> None:
    proof = make()
    proof.context["amount"] = "1.00"
    assert proof.context["amount"] == "50000.00"
    assert pm.verify(proof, audience="payments-api", trusted_keys=VK, now_ms=TS).valid


def test_proof_without_subject() -> None:
    proof = make({"a": 1})
    assert proof.subject is None


def test_from_json_limits() -> None:
    text = make().to_json()
    assert code_of(lambda: pm.Proof.from_json(text, max_bytes=len(text) - 1)) == "input_too_large"
    pm.Proof.from_json(text, max_bytes=len(text))
    assert code_of(lambda: pm.Proof.from_json(text, max_depth=1)) == "nesting_too_deep"
    pm.Proof.from_json(text, max_depth=2)


# ------------------------------------------------------------------ verify


def test_verify_accepts_every_documented_input_form() -> None:
    proof = make()
    text = proof.to_json()
    forms = [
        proof,
        text,
        text.decode(),
        bytearray(text),
        memoryview(text),
        proof.to_dict(),
        types.MappingProxyType(proof.to_dict()),
    ]
    for form in forms:
        result = pm.verify(form, audience="payments-api", trusted_keys=VK, now_ms=TS)
        assert (result.valid, result.code) == (True, None), type(form)


def test_trusted_keys_forms() -> None:
    proof = make()
    for trusted in (VK, [VK], (OTHER.verifying_key, VK), {VK}, iter([VK]), (k for k in [VK])):
        assert pm.verify(proof, audience="payments-api", trusted_keys=trusted, now_ms=TS).valid
    assert pm.verify(proof, audience="payments-api", trusted_keys=[], now_ms=TS).code == "untrusted_key"


def test_exactly_one_source_of_trust() -> None:
    proof = make()
    with pytest.raises(TypeError):
        pm.verify(proof, audience="payments-api", now_ms=TS)
    with pytest.raises(TypeError):
        pm.verify(proof, audience="payments-api", trusted_keys=VK, resolver=lambda s: [VK], now_ms=TS)
    with pytest.raises(TypeError):
        pm.verify(proof, audience="payments-api", trusted_keys=[VK.to_bytes()], now_ms=TS)


def test_context_only_on_valid_results() -> None:
    good = pm.verify(make(), audience="payments-api", trusted_keys=VK, now_ms=TS)
    assert good.valid and good.context == CTX
    tampered = make().to_dict()
    tampered["context"]["amount"] = "90000.00"
    bad = pm.verify(tampered, audience="payments-api", trusted_keys=VK, now_ms=TS)
    assert (bad.valid, bad.code, bad.context) == (False, "bad_signature", None)
    assert not bad and bad.detail
    # Envelope members of a parsed proof stay available for logging and replay stores.
    assert bad.subject == "alice" and bad.nonce == tampered["nonce"] and bad.timestamp_ms == TS
    assert bad.key_id == VK.key_id and bad.audience == "payments-api"
    garbage = pm.verify(b"{", audience="payments-api", trusted_keys=VK, now_ms=TS)
    assert (garbage.valid, garbage.code) == (False, "invalid_json")
    assert garbage.context is None and garbage.subject is None and garbage.nonce is None
    assert garbage.key_id is None and garbage.expires_at_ms is None and garbage.signed_digest is None
    assert "invalid_json" in repr(garbage)


def test_expires_at() -> None:
    for max_age in (0, 1, 300_000, 86_400_000):
        result = pm.verify(make(), audience="payments-api", trusted_keys=VK, now_ms=TS, max_age_ms=max_age)
        assert result.valid and result.expires_at_ms == TS + max_age


@pytest.mark.parametrize(("max_age", "max_skew"), [(300_000, 30_000), (0, 0), (1, 1), (5_000, 0)])
def test_clock_boundaries(max_age: int, max_skew: int) -> None:
    proof = make()

    def code(now: int) -> str | None:
        return pm.verify(
            proof,
            audience="payments-api",
            trusted_keys=VK,
            now_ms=now,
            max_age_ms=max_age,
            max_skew_ms=max_skew,
        ).code

    assert code(TS) is None
    assert code(TS + max_age) is None
    assert code(TS + max_age + 1) == "proof_expired"
    assert code(TS - max_skew) is None
    assert code(TS - max_skew - 1) == "timestamp_in_future"


def test_default_clock_is_used_when_now_is_omitted() -> None:
    old = make(timestamp_ms=pm.now_ms() - 301_000)
    assert pm.verify(old, audience="payments-api", trusted_keys=VK).code == "proof_expired"
    future = make(timestamp_ms=pm.now_ms() + 60_000)
    assert pm.verify(future, audience="payments-api", trusted_keys=VK).code == "timestamp_in_future"
    assert abs(pm.now_ms() - time.time() * 1000) < 1_000


def test_verified_context_numbers_round_trip() -> None:
    """A verified context must be the value that was signed: re-canonicalising it gives the signed bytes.

    1152921504606847000 is accepted (it is how the double 2^60 prints, so it round-trips
    under PROTOCOL section 3) and signed as those digits; the verified context must carry
    that number, not 1152921504606846976 (= 2^60 exactly), which is a different decimal
    that canonicalize rejects as inexact.
    """
    for number in (1152921504606847000, 4611686018427388000, 9.223372036854776e18 / 2, 2.0**60, -(2.0**62)):
        proof = make({"n": number, "subject": "alice"})
        signed = pm.canonicalize({"n": number, "subject": "alice"})
        assert proof.to_json().find(signed) > 0
        result = pm.verify(proof.to_json(), audience="payments-api", trusted_keys=VK, now_ms=TS)
        assert result.valid
        assert pm.canonicalize(result.context) == signed, (number, result.context)
        assert pm.canonicalize(pm.Proof.from_json(proof.to_json()).context) == signed


# ------------------------------------------------------------------ resolver


def test_resolver_single() -> None:
    calls: list[str] = []

    def resolver(subject: str) -> list[pm.VerifyingKey]:
        calls.append(subject)
        return [VK] if subject == "alice" else []

    assert pm.verify(make(), audience="payments-api", resolver=resolver, now_ms=TS).valid
    assert calls == ["alice"]
    bob = make({"subject": "bob"})
    assert pm.verify(bob, audience="payments-api", resolver=resolver, now_ms=TS).code == "untrusted_key"
    none = make({"action": "x"})
    assert pm.verify(none, audience="payments-api", resolver=resolver, now_ms=TS).code == "missing_subject"
    assert calls == ["alice", "bob"]
    assert (
        pm.verify(make(), audience="payments-api", resolver=lambda s: None, now_ms=TS).code == "untrusted_key"
    )


def test_resolver_called_once_per_subject_in_batch() -> None:
    calls: collections.Counter[str] = collections.Counter()

    def resolver(subject: str) -> list[pm.VerifyingKey]:
        calls[subject] += 1
        return {"alice": [VK], "bob": [OTHER.verifying_key]}.get(subject, [])

    subjects = ["alice", "bob", "alice", "carol", "alice", "bob"] * 20
    proofs: list[Any] = [
        make({"subject": s, "i": i}, key=OTHER if s == "bob" else KEY) for i, s in enumerate(subjects)
    ]
    proofs += [make({"no": "subject"}), b"garbage", make({"subject": "dave"}).to_json()]
    results = pm.verify_batch(proofs, audience="payments-api", resolver=resolver, now_ms=TS)
    assert calls == {"alice": 1, "bob": 1, "carol": 1, "dave": 1}
    codes = [r.code for r in results]
    want = [None if s != "carol" else "untrusted_key" for s in subjects] + [
        "missing_subject",
        "invalid_json",
        "untrusted_key",
    ]
    assert codes == want


def test_resolver_errors_propagate() -> None:
    def broken(subject: str) -> list[pm.VerifyingKey]:
        raise LookupError(subject)

    with pytest.raises(LookupError):
        pm.verify(make(), audience="payments-api", resolver=broken, now_ms=TS)
    with pytest.raises(LookupError):
        pm.verify_batch([make()], audience="payments-api", resolver=broken, now_ms=TS)


# ------------------------------------------------------------------ batch


def test_batch_empty_and_order() -> None:
    assert pm.verify_batch([], audience="payments-api", trusted_keys=VK, now_ms=TS) == []
    proofs = [make({"i": i}) for i in range(300)]
    bad = proofs[137].to_dict()
    bad["context"]["i"] = -1
    mixed: list[Any] = [*proofs[:137], bad, *proofs[138:]]
    results = pm.verify_batch(mixed, audience="payments-api", trusted_keys=VK, now_ms=TS)
    assert [r.code for r in results] == [None] * 137 + ["bad_signature"] + [None] * 162
    assert [r.context for r in results if r.valid] == [{"i": i} for i in range(300) if i != 137]


def test_batch_callers_and_requests_change_no_verdict() -> None:
    """``callers`` and ``requests`` (who sent each proof) change who pays for a bad signature,
    never a verdict: requests of one proof, small ones sharing a chunk, one of 64+ of its own,
    interleaved callers, proofs that fail before verification; one entry per proof each."""
    verifier = pm.Verifier("payments-api")
    proofs: list[Any] = [make({"i": i}) for i in range(200)]
    for k in (3, 70, 71, 150, 199):
        bad = proofs[k].to_dict()
        bad["context"]["i"] = -1
        proofs[k] = bad
    proofs[5] = b"{"
    requests = (
        [0] * 3 + [1] + [2] * 2 + [k // 4 + 3 for k in range(58)] + [100] * 100 + [200 + k for k in range(36)]
    )
    callers = [r % 3 for r in requests]
    assert len(requests) == len(proofs)
    plain = verifier.verify_batch(proofs, trusted_keys=VK, now_ms=TS)
    for kw in ({"requests": requests}, {"callers": callers}, {"callers": callers, "requests": requests}):
        grouped = verifier.verify_batch(proofs, trusted_keys=VK, now_ms=TS, **kw)
        assert [r.code for r in grouped] == [r.code for r in plain], kw
        assert [k for k, r in enumerate(grouped) if not r.valid] == [3, 5, 70, 71, 150, 199]
    with pytest.raises(ValueError, match="requests has 199 entries for 200 proofs"):
        verifier.verify_batch(proofs, trusted_keys=VK, now_ms=TS, requests=requests[:-1])
    with pytest.raises(ValueError, match="callers has 201 entries"):
        verifier.verify_batch(proofs, trusted_keys=VK, now_ms=TS, callers=[*callers, 0])
    with pytest.raises(TypeError):
        verifier.verify_batch(proofs, trusted_keys=VK, now_ms=TS, requests=["a"] * len(proofs))


def test_batch_accepts_any_iterable() -> None:
    proofs = (make({"i": i}).to_json() for i in range(5))
    assert all(r.valid for r in pm.verify_batch(proofs, audience="payments-api", trusted_keys=VK, now_ms=TS))


def test_verify_batch_releases_the_gil() -> None:
    """A Python thread keeps counting while verify_batch runs; it cannot while Python code holds the GIL."""
    proofs = [make({"i": i}).to_json() for i in range(4_000)]
    count = 0
    stop = threading.Event()
    started = threading.Event()

    def counter() -> None:
        nonlocal count
        started.set()
        while not stop.is_set():
            count += 1
            if count % 64 == 0:
                time.sleep(0)  # let the main thread take the GIL back promptly

    def busy_python() -> None:
        x = 0
        for i in range(3_000_000):
            x ^= i
        assert x == 0  # the XOR of 0..n-1 is 0 when n is a multiple of 4

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(5.0)  # no forced GIL hand-over: only explicit releases let the counter run
    thread = threading.Thread(target=counter, daemon=True)
    try:
        thread.start()
        assert started.wait(30), "the counter thread did not start"

        def progress(work: Any) -> int:
            before = count
            work()
            return count - before

        held = progress(busy_python)
        released = progress(
            lambda: pm.verify_batch(proofs, audience="payments-api", trusted_keys=VK, now_ms=TS)
        )
    finally:
        stop.set()
        thread.join(10)
        sys.setswitchinterval(old_interval)
    assert released > 1_000, (held, released)
    assert released > 20 * (held + 1), (held, released)


def test_verify_batch_from_many_threads() -> None:
    proofs = [make({"i": i}).to_json() for i in range(200)]
    out: list[list[str | None]] = []

    def work() -> None:
        out.append(
            [r.code for r in pm.verify_batch(proofs, audience="payments-api", trusted_keys=VK, now_ms=TS)]
        )

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [[None] * 200] * 4


# ------------------------------------------------------------------ canonical helpers


def test_canonical_helpers() -> None:
    ctx = {"b": [1, 2.5, True, None], "a": "é"}
    assert pm.canonicalize(ctx) == '{"a":"é","b":[1,2.5,true,null]}'.encode()
    assert pm.context_digest(ctx) == hashlib.sha256(pm.canonicalize(ctx)).digest()
    assert pm.fingerprint(ctx) == proto.fingerprint(pm.context_digest(ctx))
    fp = pm.fingerprint(ctx)
    assert len(fp) == 19 and fp.count("-") == 3
    assert set(fp.replace("-", "")) <= set(proto.CROCKFORD)
    assert pm.canonicalize((1, [2])) == b"[1,[2]]"


def test_defaults_are_the_protocol_defaults() -> None:
    assert (pm.DEFAULT_MAX_AGE_MS, pm.DEFAULT_MAX_SKEW_MS, pm.DEFAULT_MAX_BYTES, pm.DEFAULT_MAX_DEPTH) == (
        300_000,
        30_000,
        65_536,
        32,
    )


def test_public_names() -> None:
    documented = {
        "SigningKey",
        "VerifyingKey",
        "sign",
        "Proof",
        "parse_proof",
        "verify",
        "verify_batch",
        "VerificationResult",
        "canonicalize",
        "context_digest",
        "fingerprint",
        "ProofMessengerError",
        "ERROR_CODES",
    }
    assert documented <= set(pm.__all__)
    assert all(hasattr(pm, name) for name in pm.__all__)

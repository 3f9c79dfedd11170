"""Generate the proof-messenger v1 test vectors (run once; the output is committed).

    .venv/bin/python tests/vectors/generate.py [--out DIR] [--force]

Writes proof_v1.json, canonical_v1.json, rfc8032.json and ed25519_edge.json
next to this file, or into DIR with --out (tests/test_vectors_generate.py
does that and compares the output with the committed files). Everything is
derived from docs/PROTOCOL.md with independent tools only: hashlib, struct, the `rfc8785` package, PyNaCl and
the pure-Python Ed25519 of tests/ed25519_reference.py. proof_messenger itself
is never imported, so the vectors check the implementation instead of
echoing it. Expected error codes are written by hand from PROTOCOL.md
sections 3, 5, 6 and 7.

Deterministic: fixed seeds, nonces, timestamps; re-running reproduces the
files byte for byte (the script refuses to run twice with different output
unless --force is given, so a committed vector never changes silently).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import ed25519_reference as ref  # noqa: E402
import protocol_reference as proto  # noqa: E402

TS = 1_764_331_200_000  # 2025-11-28T12:00:00Z, the PROTOCOL.md example
DEFAULT_POLICY = {"max_age_ms": 300_000, "max_skew_ms": 30_000, "max_bytes": 65_536, "max_depth": 32}


def seed_of(name: str) -> bytes:
    return hashlib.sha256(b"proof-messenger/v1/test-key/" + name.encode()).digest()


def nonce_of(name: str, n: int = 32) -> str:
    return proto.b64url(hashlib.sha512(b"proof-messenger/v1/test-nonce/" + name.encode()).digest()[:n])


ALICE = seed_of("alice")
BOB = seed_of("bob")
EDGE = seed_of("edge")
RFC8032_TEST1_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def dumps(value: Any) -> str:
    return proto.canonical(value).decode("utf-8")


def le32(n: int) -> bytes:
    return n.to_bytes(32, "little")


# ---------------------------------------------------------------- RFC 8032


RFC8032_TESTS = [
    # Transcribed from RFC 8032 section 7.1; checked below with PyNaCl and the reference.
    {
        "name": "TEST 1",
        "secret_key": "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "public_key": "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "message": "",
        "signature": "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    {
        "name": "TEST 2",
        "secret_key": "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "public_key": "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "message": "72",
        "signature": "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    {
        "name": "TEST 3",
        "secret_key": "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "public_key": "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "message": "af82",
        "signature": "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
    {
        "name": "TEST 1024",
        "secret_key": "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "public_key": "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        "message": (
            "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
            "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
            "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
            "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
            "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
            "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
            "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
            "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
            "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
            "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
            "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
            "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
            "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
            "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
            "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
            "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
            "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
            "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
            "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
            "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
            "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
            "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
            "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
            "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
            "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
            "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
            "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
            "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
            "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
            "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
            "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
            "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0"
        ),
        "signature": "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
        "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    },
    {
        "name": "TEST SHA(abc)",
        "secret_key": "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "public_key": "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "message": "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
        "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "signature": "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
        "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    },
]


def rfc8032() -> dict[str, Any]:
    assert RFC8032_TESTS[4]["message"] == hashlib.sha512(b"abc").hexdigest()
    assert len(bytes.fromhex(RFC8032_TESTS[3]["message"])) == 1023
    for test in RFC8032_TESTS:
        sk, pk = bytes.fromhex(test["secret_key"]), bytes.fromhex(test["public_key"])
        msg, sig = bytes.fromhex(test["message"]), bytes.fromhex(test["signature"])
        assert bytes(nacl.signing.SigningKey(sk).verify_key) == pk, test["name"]
        assert nacl.signing.SigningKey(sk).sign(msg).signature == sig, test["name"]
        nacl.signing.VerifyKey(pk).verify(msg, sig)
        assert ref.public_key(sk) == pk and ref.sign(sk, msg) == sig and ref.verify(pk, msg, sig), test[
            "name"
        ]
    return {
        "description": "RFC 8032 section 7.1 Ed25519 test vectors (hex), transcribed from the RFC.",
        "source": "https://www.rfc-editor.org/rfc/rfc8032#section-7.1",
        "tests": RFC8032_TESTS,
    }


# ---------------------------------------------------------------- proof_v1


def derived(
    name: str, seed: bytes, context_json: str, audience: str, timestamp_ms: int, nonce: str
) -> dict[str, Any]:
    context = json.loads(context_json)
    env = proto.envelope(context, audience, timestamp_ms, nonce)
    pk = proto.public_key(seed)
    signature = proto.ed25519_sign(seed, env["signed_digest"])
    assert ref.sign(seed, env["signed_digest"]) == signature
    proof = proto.proof_dict(context, audience, timestamp_ms, nonce, pk, signature)
    return {
        "name": name,
        "seed_hex": seed.hex(),
        "public_key_hex": pk.hex(),
        "public_key_b64": proto.b64(pk),
        "public_key_spki_b64": proto.b64(proto.spki(pk)),
        "key_id": proto.key_id(pk),
        "context_json": context_json,
        "audience": audience,
        "timestamp_ms": timestamp_ms,
        "nonce": nonce,
        "canonical_context": env["canonical_context"].decode("utf-8"),
        "canonical_context_hex": env["canonical_context"].hex(),
        "context_digest_hex": env["context_digest"].hex(),
        "fingerprint": env["fingerprint"],
        "payload_hex": env["payload"].hex(),
        "signed_digest_hex": env["signed_digest"].hex(),
        "signature_hex": signature.hex(),
        "signature_b64": proto.b64(signature),
        "proof_json": dumps(proof),
    }


WIRE_CONTEXT = (
    '{"action": "wire_transfer", "amount": "50000.00", "currency": "EUR",'
    ' "to": "ACME-CORP-ACCOUNT-123", "subject": "alice"}'
)
WIRE_NONCE = proto.b64url(bytes(range(32)))

SIGNING_CASES = [
    ("wire_transfer", ALICE, WIRE_CONTEXT, "payments-api", TS, WIRE_NONCE),
    (
        "unicode_keys",
        ALICE,
        # Keys sort by UTF-16 code units: U+10000 (D800 DC00) before U+FFFD; "\n" first; "" before all.
        '{"\\ufffd": "replacement", "\\ud800\\udc00": "linear b", "z": 1, "é": "e acute", "日本": "nihon",'
        ' "": "empty", "\\n": "newline", "A": "upper", "a": "lower", "😀": "grin",'
        ' "subject": "ünïcødé-ûser", "text": "quote \\" backslash \\\\ slash \\/ tab \\t nul \\u0000'
        ' del \\u007f ls \\u2028 ps \\u2029 astral 𝄞 \\ud83d\\ude00"}',
        "payments-api",
        TS + 1,
        nonce_of("unicode_keys"),
    ),
    (
        "numbers",
        ALICE,
        '{"big": 1E21, "tiny": 5e-324, "negzero": -0, "negzero_float": -0.0, "tenth": 0.1,'
        ' "hundred": 1e2, "one_float": 1.0, "max_safe": 9007199254740991, "two_pow_53": 9.007199254740992e15,'
        ' "small": -1.5e-7, "micro": 0.000001, "e20": 1.2345678901234568E+20, "max": 1.7976931348623157e308,'
        ' "min_normal": 2.2250738585072014e-308, "subject": "alice"}',
        "payments-api",
        TS + 2,
        nonce_of("numbers"),
    ),
    (
        "nested_arrays",
        BOB,
        '{"subject": "bob", "items": [[1, [2, [3, [[]]]]], {"a": [{"b": null}, [true, false]]}], "empty": {},'
        ' "matrix": [[1, 2], [3, 4]], "mixed": [null, "s", 1.5, {"k": []}]}',
        "ledger",
        TS + 3,
        nonce_of("nested_arrays", 16),
    ),
    ("minimal", RFC8032_TEST1_SEED, "{}", "a", 0, nonce_of("minimal", 16)),
    (
        "limits",
        BOB,
        '{"subject": "%s"}' % ("ß" * 127 + "x"),  # 255 UTF-8 bytes
        "é" * 127 + "a",  # 255 UTF-8 bytes
        2**53 - 1,
        nonce_of("limits", 64),
    ),
]


def policy(audience: str, now_ms: int, trusted: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"audience": audience, "now_ms": now_ms, **DEFAULT_POLICY}
    subject_keys = overrides.pop("subject_keys", None)
    out.update(overrides)
    if subject_keys is not None:
        out["subject_keys_b64"] = subject_keys
    else:
        out["trusted_public_keys_b64"] = (
            trusted if trusted is not None else [proto.b64(proto.public_key(ALICE))]
        )
    return out


def verdict(name: str, proof: str | bytes, pol: dict[str, Any], code: str | None, why: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "description": why}
    if isinstance(proof, bytes):
        try:
            entry["proof_json"] = proof.decode("utf-8")
        except UnicodeDecodeError:
            entry["proof_hex"] = proof.hex()
    else:
        entry["proof_json"] = proof
    entry["policy"] = pol
    entry["expected"] = {"valid": code is None, "code": code}
    return entry


def with_members(proof: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = dict(proof)
    for key, value in changes.items():
        if value is _DELETE:
            out.pop(key)
        else:
            out[key] = value
    return out


_DELETE = object()


def raw_json(members: list[tuple[str, str]]) -> str:
    """An object from already serialised member values (for texts rfc8785 cannot produce)."""
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in members) + "}"


def proof_members(proof: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, dumps(v)) for k, v in proof.items()]


def replace_member(proof: dict[str, Any], name: str, text: str) -> str:
    return raw_json([(k, text if k == name else v) for k, v in proof_members(proof)])


def context_with(proof: dict[str, Any], extra_member: str) -> str:
    """The proof with `extra_member` (raw text) added to its context; the signature no longer matters."""
    ctx = dumps(proof["context"])
    return replace_member(proof, "context", ctx[:-1] + "," + extra_member + "}")


def resign(
    context: Any, seed: bytes = ALICE, audience: str = "payments-api", ts: int = TS, nonce: str = WIRE_NONCE
) -> dict[str, Any]:
    return proto.sign_proof(context, seed, audience, ts, nonce)


def edge_signature(seed: bytes, message: bytes, r_point: ref.Point, s_of_k: Any) -> bytes:
    """R || S where S is computed from k = H(R || A || M) by `s_of_k`."""
    a_bytes = proto.public_key(seed)
    r_bytes = r_point.encode()
    k = ref.challenge(r_bytes, a_bytes, message)
    return r_bytes + le32(s_of_k(k))


def proof_v1() -> dict[str, Any]:
    cases = [derived(*c) for c in SIGNING_CASES]
    by_name = {c["name"]: c for c in cases}
    wire = json.loads(by_name["wire_transfer"]["proof_json"])
    wire_text = by_name["wire_transfer"]["proof_json"]
    alice_b64 = proto.b64(proto.public_key(ALICE))
    bob_b64 = proto.b64(proto.public_key(BOB))
    now = TS + 1_000
    pol = policy("payments-api", now)
    a_secret, _ = ref.expand_seed(ALICE)
    signed = bytes.fromhex(by_name["wire_transfer"]["signed_digest_hex"])
    sig = bytes.fromhex(by_name["wire_transfer"]["signature_hex"])
    v: list[dict[str, Any]] = []

    # --- valid ---
    for c in cases:
        p = json.loads(c["proof_json"])
        subject_pol = policy(c["audience"], c["timestamp_ms"], [c["public_key_b64"]])
        v.append(
            verdict(f"valid_{c['name']}", c["proof_json"], subject_pol, None, "the signed vector verifies")
        )
        assert p["signature"] == c["signature_b64"]
    v.append(
        verdict(
            "valid_spki_public_key",
            dumps(with_members(wire, publicKey=by_name["wire_transfer"]["public_key_spki_b64"])),
            pol,
            None,
            "publicKey as SPKI DER base64 names the same trusted key",
        )
    )
    v.append(
        verdict(
            "valid_trusted_key_given_as_spki",
            wire_text,
            policy("payments-api", now, [by_name["wire_transfer"]["public_key_spki_b64"]]),
            None,
            "the trusted key configured in SPKI form matches the raw key in the proof",
        )
    )
    pretty = json.dumps(dict(reversed(list(wire.items()))), indent=2, ensure_ascii=True)
    pretty = pretty.replace('"wire_transfer"', '"wire\\u005ftransfer"')
    v.append(
        verdict(
            "valid_non_canonical_text",
            pretty,
            pol,
            None,
            "whitespace, member order and escapes do not matter: the canonical context is signed",
        )
    )
    v.append(
        verdict(
            "valid_per_subject_trust",
            wire_text,
            policy("payments-api", now, subject_keys={"alice": [alice_b64], "bob": [bob_b64]}),
            None,
            "keys resolved for context.subject",
        )
    )
    v.append(
        verdict(
            "valid_one_of_several_trusted_keys",
            wire_text,
            policy("payments-api", now, [bob_b64, alice_b64]),
            None,
            "any trusted key may match",
        )
    )
    v.append(
        verdict(
            "valid_age_boundary",
            wire_text,
            policy("payments-api", TS + 300_000),
            None,
            "now = timestamp + max_age is still fresh",
        )
    )
    v.append(
        verdict(
            "valid_skew_boundary",
            wire_text,
            policy("payments-api", TS - 30_000),
            None,
            "timestamp = now + max_skew is still accepted",
        )
    )
    v.append(
        verdict(
            "valid_custom_age_and_skew",
            wire_text,
            policy("payments-api", TS + 10, max_age_ms=10, max_skew_ms=0),
            None,
            "custom limits, boundary",
        )
    )
    padded = wire_text + " " * (65_536 - len(wire_text.encode()))
    v.append(
        verdict(
            "valid_size_boundary", padded, pol, None, "exactly max_bytes (65536) bytes, trailing whitespace"
        )
    )
    deep30 = {"subject": "alice", "deep": _nest(30)}
    v.append(
        verdict(
            "valid_depth_boundary",
            dumps(resign(deep30)),
            pol,
            None,
            "proof object (1) > context (2) > 30 nested arrays: depth 32 = max_depth",
        )
    )
    torsion_sig = _torsion_r_signature(ALICE, signed, order=8)
    v.append(
        verdict(
            "valid_torsion_component_in_r",
            dumps(with_members(wire, signature=proto.b64(torsion_sig))),
            pol,
            None,
            "R' = rB + T (T of order 8), S = r + k'a: valid under the cofactored rule of section 5",
        )
    )
    mixed_seed_key = _mixed_order_key(ALICE, order=8)
    mixed_sig = _mixed_key_signature(ALICE, mixed_seed_key, signed)
    v.append(
        verdict(
            "valid_mixed_order_public_key",
            dumps(with_members(wire, publicKey=proto.b64(mixed_seed_key), signature=proto.b64(mixed_sig))),
            policy("payments-api", now, [proto.b64(mixed_seed_key)]),
            None,
            "A' = aB + T (order 8 torsion component) is not of small order, so it is a valid key",
        )
    )

    # --- step 1: size ---
    v.append(verdict("input_too_large", padded + " ", pol, "input_too_large", "max_bytes + 1 bytes"))
    v.append(
        verdict(
            "input_too_large_before_utf8",
            b"\xff" * 100,
            policy("payments-api", now, max_bytes=64),
            "input_too_large",
            "size is checked before anything else",
        )
    )
    # --- step 2: UTF-8 ---
    bad_utf8 = wire_text.replace('"EUR"', '"EU\udcffR"').encode("utf-8", "surrogateescape")
    v.append(verdict("invalid_utf8", bad_utf8, pol, "invalid_utf8", "a lone 0xFF byte inside a string"))
    v.append(
        verdict(
            "invalid_utf8_encoded_surrogate",
            wire_text.replace('"EUR"', '"EUR\udced\udca0\udc80"').encode("utf-8", "surrogateescape"),
            pol,
            "invalid_utf8",
            "CESU-style encoded surrogate ED A0 80",
        )
    )
    v.append(
        verdict(
            "invalid_utf8_overlong",
            wire_text.replace('"EUR"', '"E\udcc0\udcafR"').encode("utf-8", "surrogateescape"),
            pol,
            "invalid_utf8",
            "overlong encoding C0 AF",
        )
    )
    # --- step 3: JSON ---
    v.append(
        verdict("invalid_json_trailing_data", wire_text + "x", pol, "invalid_json", "data after the value")
    )
    v.append(
        verdict(
            "invalid_json_bom", b"\xef\xbb\xbf" + wire_text.encode(), pol, "invalid_json", "byte order mark"
        )
    )
    v.append(
        verdict(
            "invalid_json_leading_zero",
            replace_member(wire, "timestamp", "0" + str(TS)),
            pol,
            "invalid_json",
            "leading zero",
        )
    )
    v.append(verdict("invalid_json_truncated", wire_text[:-1], pol, "invalid_json", "missing closing brace"))
    v.append(
        verdict(
            "invalid_json_control_character",
            wire_text.replace("EUR", "EU\tR"),
            pol,
            "invalid_json",
            "raw TAB inside a string",
        )
    )
    v.append(
        verdict(
            "invalid_json_single_quotes",
            wire_text.replace('"EUR"', "'EUR'"),
            pol,
            "invalid_json",
            "single quotes",
        )
    )
    v.append(
        verdict(
            "nesting_too_deep",
            dumps(resign({"subject": "alice", "deep": _nest(31)})),
            pol,
            "nesting_too_deep",
            "depth 33 (signed honestly, so only the depth fails)",
        )
    )
    v.append(
        verdict(
            "nesting_too_deep_custom_limit",
            wire_text,
            policy("payments-api", now, max_depth=1),
            "nesting_too_deep",
            "context (depth 2) exceeds max_depth 1",
        )
    )
    v.append(
        verdict(
            "duplicate_key_member",
            wire_text[:-1] + ',"audience":"payments-api"}',
            pol,
            "duplicate_key",
            "audience twice (same value)",
        )
    )
    v.append(
        verdict(
            "duplicate_key_in_context",
            context_with(wire, '"amount":"50000.00"'),
            pol,
            "duplicate_key",
            "context.amount twice",
        )
    )
    v.append(
        verdict(
            "duplicate_key_after_unescape",
            context_with(wire, '"\\u0061mount":"1.00"'),
            pol,
            "duplicate_key",
            "\\u0061mount is amount",
        )
    )
    v.append(
        verdict(
            "lone_surrogate_escape",
            context_with(wire, '"memo":"\\ud800"'),
            pol,
            "lone_surrogate",
            "high surrogate escape alone",
        )
    )
    v.append(
        verdict(
            "lone_surrogate_low_first",
            context_with(wire, '"memo":"\\udc00\\ud800"'),
            pol,
            "lone_surrogate",
            "low then high",
        )
    )
    v.append(
        verdict(
            "lone_surrogate_in_key",
            context_with(wire, '"\\udfff":1'),
            pol,
            "lone_surrogate",
            "in a member name",
        )
    )
    v.append(verdict("non_finite_nan", context_with(wire, '"x":NaN'), pol, "non_finite_number", "NaN token"))
    v.append(
        verdict(
            "non_finite_infinity",
            context_with(wire, '"x":-Infinity'),
            pol,
            "non_finite_number",
            "-Infinity token",
        )
    )
    v.append(
        verdict(
            "non_finite_overflow",
            context_with(wire, '"x":1e400'),
            pol,
            "non_finite_number",
            "overflows a double",
        )
    )
    v.append(
        verdict(
            "inexact_number_2p53_plus_1",
            context_with(wire, '"x":9007199254740993'),
            pol,
            "inexact_number",
            "nearest double is 9007199254740992",
        )
    )
    v.append(
        verdict(
            "inexact_number_timestamp",
            replace_member(wire, "timestamp", str(TS) + ".0000000000001"),
            pol,
            "inexact_number",
            "JSON rules apply before structure",
        )
    )
    # --- step 4: structure ---
    v.append(
        verdict("invalid_type_array", "[" + wire_text + "]", pol, "invalid_type", "a proof is an object")
    )
    v.append(verdict("invalid_type_string", json.dumps(wire_text), pol, "invalid_type", "a JSON string"))
    v.append(verdict("invalid_type_null", "null", pol, "invalid_type", "null"))
    v.append(
        verdict(
            "unknown_field",
            dumps(with_members(wire, extra=1)),
            pol,
            "unknown_field",
            "an unsigned extra member",
        )
    )
    v.append(
        verdict(
            "unknown_field_case",
            dumps(with_members(wire, publickey=wire["publicKey"])),
            pol,
            "unknown_field",
            "member names are case-sensitive",
        )
    )
    v.append(
        verdict(
            "unknown_field_before_missing",
            dumps(with_members(wire, nonce=_DELETE, extra=1)),
            pol,
            "unknown_field",
            "unknown members are reported before missing ones",
        )
    )
    for member in proto.proof_dict({}, "a", 0, "", b"", b"").keys():
        v.append(
            verdict(
                f"missing_field_{member}",
                dumps(with_members(wire, **{member: _DELETE})),
                pol,
                "missing_field",
                f"no {member}",
            )
        )
    v.append(verdict("missing_field_empty_object", "{}", pol, "missing_field", "nothing at all"))
    invalid_fields = [
        ("version_string", {"version": "1"}),
        ("version_null", {"version": None}),
        ("algorithm_number", {"algorithm": 25519}),
        ("context_array", {"context": [1]}),
        ("context_string", {"context": "{}"}),
        ("subject_empty", {"context": dict(wire["context"], subject="")}),
        ("subject_number", {"context": dict(wire["context"], subject=42)}),
        ("subject_too_long", {"context": dict(wire["context"], subject="x" * 256)}),
        ("audience_empty", {"audience": ""}),
        ("audience_too_long", {"audience": "ü" * 128}),
        ("audience_number", {"audience": 1}),
        ("timestamp_negative", {"timestamp": -1}),
        ("timestamp_fraction", {"timestamp": TS + 0.5}),
        ("timestamp_2p53", {"timestamp": 2**53}),
        ("timestamp_string", {"timestamp": str(TS)}),
        ("nonce_number", {"nonce": 1}),
        ("nonce_15_bytes", {"nonce": proto.b64url(bytes(15))}),
        ("nonce_65_bytes", {"nonce": proto.b64url(bytes(65))}),
        ("nonce_empty", {"nonce": ""}),
        ("public_key_number", {"publicKey": 1}),
        ("signature_null", {"signature": None}),
        ("signature_63_bytes", {"signature": proto.b64(sig[:63])}),
        ("signature_65_bytes", {"signature": proto.b64(sig + b"\x00")}),
    ]
    for name, change in invalid_fields:
        if name == "timestamp_2p53":
            text = replace_member(wire, "timestamp", str(2**53))  # rfc8785 refuses integers above 2^53 - 1
        else:
            text = dumps(with_members(wire, **change))
        v.append(verdict(f"invalid_field_{name}", text, pol, "invalid_field", f"{name.replace('_', ' ')}"))
    v.append(
        verdict(
            "unsupported_version_2",
            dumps(with_members(wire, version=2)),
            pol,
            "unsupported_version",
            "version 2",
        )
    )
    v.append(
        verdict(
            "unsupported_version_0",
            dumps(with_members(wire, version=0)),
            pol,
            "unsupported_version",
            "version 0",
        )
    )
    v.append(
        verdict(
            "unsupported_version_before_algorithm",
            dumps(with_members(wire, version=2, algorithm="RS256")),
            pol,
            "unsupported_version",
            "members are checked in order",
        )
    )
    v.append(
        verdict(
            "valid_version_1_0",
            replace_member(wire, "version", "1.0"),
            pol,
            None,
            "1.0 is the number 1 (the version is not signed, its value is)",
        )
    )
    for alg in ["ed25519", "EdDSA", "Ed448", "ES256", ""]:
        v.append(
            verdict(
                f"unsupported_algorithm_{alg or 'empty'}",
                dumps(with_members(wire, algorithm=alg)),
                pol,
                "unsupported_algorithm",
                f"algorithm {alg!r}",
            )
        )
    pk_b64 = wire["publicKey"]
    sig_b64 = wire["signature"]
    bad_b64 = [
        ("public_key_trailing_bits", {"publicKey": pk_b64[:-2] + _bump_b64(pk_b64[-2]) + "="}),
        ("public_key_no_padding", {"publicKey": pk_b64.rstrip("=")}),
        ("public_key_extra_padding", {"publicKey": pk_b64 + "=="}),
        ("public_key_url_alphabet", {"publicKey": _url_alphabet_spelling(ALICE)}),
        ("public_key_whitespace", {"publicKey": pk_b64[:10] + " " + pk_b64[10:]}),
        ("signature_no_padding", {"signature": sig_b64.rstrip("=")}),
        ("signature_newline", {"signature": sig_b64[:40] + "\n" + sig_b64[40:]}),
        ("signature_trailing_bits", {"signature": sig_b64[:-3] + _bump_b64(sig_b64[-3]) + "=="}),
        ("nonce_padded", {"nonce": WIRE_NONCE + "="}),
        (
            "nonce_standard_alphabet",
            {"nonce": proto.b64url(b"\xfb\xff" * 8).replace("-", "+").replace("_", "/")},
        ),
        ("nonce_trailing_bits", {"nonce": WIRE_NONCE[:-1] + _bump_b64(WIRE_NONCE[-1], url=True)}),
        ("nonce_impossible_length", {"nonce": WIRE_NONCE + "AB"}),
    ]
    for name, change in bad_b64:
        v.append(
            verdict(
                f"invalid_base64_{name}", dumps(with_members(wire, **change)), pol, "invalid_base64", name
            )
        )
    alice_raw = proto.public_key(ALICE)
    for name, key in [
        ("31_bytes", alice_raw[:31]),
        ("33_bytes", alice_raw + b"\x00"),
        ("64_bytes", alice_raw * 2),
        ("spki_x25519_oid", bytes.fromhex("302a300506032b656e032100") + alice_raw),
        ("spki_45_bytes", proto.spki(alice_raw) + b"\x00"),
    ]:
        v.append(
            verdict(
                f"invalid_public_key_{name}",
                dumps(with_members(wire, publicKey=proto.b64(key))),
                pol,
                "invalid_public_key",
                name,
            )
        )
    off_curve = _off_curve_encoding()
    v.append(
        verdict(
            "invalid_public_key_trusted_off_curve",
            wire_text,
            policy("payments-api", now, [alice_b64, proto.b64(off_curve)]),
            "invalid_public_key",
            "configuring an off-curve trusted key fails (section 6 step 5)",
        )
    )
    v.append(
        verdict(
            "invalid_public_key_trusted_non_canonical",
            wire_text,
            policy("payments-api", now, [proto.b64(le32(ref.P + 1))]),
            "invalid_public_key",
            "configuring a non-canonical (y >= p) trusted key fails",
        )
    )
    v.append(
        verdict(
            "weak_public_key_trusted",
            wire_text,
            policy("payments-api", now, [alice_b64, proto.b64(le32(1))]),
            "weak_public_key",
            "configuring the identity point as a trusted key fails",
        )
    )
    v.append(
        verdict(
            "weak_public_key_trusted_order_8",
            wire_text,
            policy("payments-api", now, [proto.b64(ref.torsion_generator().encode())]),
            "weak_public_key",
            "a point of order 8",
        )
    )
    # --- step 5: trust ---
    v.append(
        verdict(
            "untrusted_key",
            wire_text,
            policy("payments-api", now, [bob_b64]),
            "untrusted_key",
            "trusted: bob only",
        )
    )
    v.append(
        verdict(
            "untrusted_key_empty_trust",
            wire_text,
            policy("payments-api", now, []),
            "untrusted_key",
            "no trusted keys",
        )
    )
    v.append(
        verdict(
            "untrusted_key_per_subject",
            wire_text,
            policy("payments-api", now, subject_keys={"alice": [bob_b64]}),
            "untrusted_key",
            "alice's enrolled key is another one",
        )
    )
    v.append(
        verdict(
            "untrusted_key_unknown_subject",
            wire_text,
            policy("payments-api", now, subject_keys={"bob": [alice_b64]}),
            "untrusted_key",
            "no keys for alice",
        )
    )
    v.append(
        verdict(
            "untrusted_key_small_order_in_proof",
            dumps(with_members(wire, publicKey=proto.b64(le32(1)))),
            pol,
            "untrusted_key",
            "the proof's own key is only a hint; a weak key is never trusted",
        )
    )
    v.append(
        verdict(
            "untrusted_key_before_audience",
            dumps(with_members(wire, audience="other")),
            policy("payments-api", now, [bob_b64]),
            "untrusted_key",
            "trust is step 5, audience step 6",
        )
    )
    no_subject = resign({k: val for k, val in wire["context"].items() if k != "subject"})
    v.append(
        verdict(
            "missing_subject",
            dumps(no_subject),
            policy("payments-api", now, subject_keys={"alice": [alice_b64]}),
            "missing_subject",
            "per-subject trust, no context.subject",
        )
    )
    v.append(
        verdict(
            "valid_no_subject_fixed_trust",
            dumps(no_subject),
            pol,
            None,
            "a subject is only needed per subject",
        )
    )
    # --- step 6: audience ---
    v.append(
        verdict(
            "audience_mismatch",
            wire_text,
            policy("payments-api-2", now),
            "audience_mismatch",
            "another verifier",
        )
    )
    v.append(
        verdict(
            "audience_mismatch_case",
            wire_text,
            policy("Payments-API", now),
            "audience_mismatch",
            "byte for byte",
        )
    )
    v.append(
        verdict(
            "audience_mismatch_before_expiry",
            wire_text,
            policy("other", TS + 10**9),
            "audience_mismatch",
            "audience is step 6, freshness step 7",
        )
    )
    # --- step 7: freshness ---
    v.append(
        verdict(
            "proof_expired", wire_text, policy("payments-api", TS + 300_001), "proof_expired", "1 ms too old"
        )
    )
    v.append(
        verdict(
            "proof_expired_custom",
            wire_text,
            policy("payments-api", TS + 11, max_age_ms=10),
            "proof_expired",
            "max_age 10 ms",
        )
    )
    v.append(
        verdict(
            "timestamp_in_future",
            wire_text,
            policy("payments-api", TS - 30_001),
            "timestamp_in_future",
            "1 ms beyond the skew",
        )
    )
    v.append(
        verdict(
            "timestamp_in_future_zero_skew",
            wire_text,
            policy("payments-api", TS - 1, max_skew_ms=0),
            "timestamp_in_future",
            "no skew allowed",
        )
    )
    tampered_sig = bytearray(sig)
    tampered_sig[5] ^= 0x01
    v.append(
        verdict(
            "expired_before_bad_signature",
            dumps(with_members(wire, signature=proto.b64(bytes(tampered_sig)))),
            policy("payments-api", TS + 10**9),
            "proof_expired",
            "freshness is checked before the signature",
        )
    )
    # --- step 9: signature ---
    v.append(
        verdict(
            "bad_signature_tampered_amount",
            dumps(with_members(wire, context=dict(wire["context"], amount="90000.00"))),
            pol,
            "bad_signature",
            "context changed after signing",
        )
    )
    v.append(
        verdict(
            "bad_signature_added_context_member",
            dumps(with_members(wire, context=dict(wire["context"], memo="x"))),
            pol,
            "bad_signature",
            "a context member added",
        )
    )
    v.append(
        verdict(
            "bad_signature_tampered_audience",
            dumps(with_members(wire, audience="payments-api-2")),
            policy("payments-api-2", now),
            "bad_signature",
            "audience is signed",
        )
    )
    v.append(
        verdict(
            "bad_signature_tampered_timestamp",
            dumps(with_members(wire, timestamp=TS + 1)),
            pol,
            "bad_signature",
            "timestamp is signed",
        )
    )
    v.append(
        verdict(
            "bad_signature_tampered_nonce",
            dumps(with_members(wire, nonce=proto.b64url(bytes(range(1, 33))))),
            pol,
            "bad_signature",
            "nonce is signed",
        )
    )
    v.append(
        verdict(
            "bad_signature_bit_flip",
            dumps(with_members(wire, signature=proto.b64(bytes(tampered_sig)))),
            pol,
            "bad_signature",
            "one bit of R flipped",
        )
    )
    v.append(
        verdict(
            "bad_signature_other_signer",
            dumps(with_members(wire, signature=proto.b64(proto.ed25519_sign(BOB, signed)))),
            pol,
            "bad_signature",
            "bob signed, the proof claims alice's key",
        )
    )
    v.append(
        verdict(
            "bad_signature_zero",
            dumps(with_members(wire, signature=proto.b64(bytes(64)))),
            pol,
            "bad_signature",
            "all zero",
        )
    )
    s_plus_l = sig[:32] + le32(int.from_bytes(sig[32:], "little") + ref.L)
    v.append(
        verdict(
            "bad_signature_s_plus_l",
            dumps(with_members(wire, signature=proto.b64(s_plus_l))),
            pol,
            "bad_signature",
            "S + L: the same scalar, non-canonical (rule 1)",
        )
    )
    small_r = edge_signature(ALICE, signed, ref.IDENTITY, lambda k: k * a_secret % ref.L)
    v.append(
        verdict(
            "bad_signature_small_order_r",
            dumps(with_members(wire, signature=proto.b64(small_r))),
            pol,
            "bad_signature",
            "R = identity, S = k*a: the cofactored equation holds; rule 3 rejects",
        )
    )
    assert ref.rejection(alice_raw, signed, small_r) == "rule3"
    noncanon_r = le32(ref.P + 1) + le32(
        (ref.challenge(le32(ref.P + 1), alice_raw, signed) * a_secret) % ref.L
    )
    v.append(
        verdict(
            "bad_signature_non_canonical_r",
            dumps(with_members(wire, signature=proto.b64(noncanon_r))),
            pol,
            "bad_signature",
            "R = identity spelled y = p + 1, S = k*a (rule 2)",
        )
    )
    assert ref.rejection(alice_raw, signed, noncanon_r) == "rule2"

    for entry in v:
        assert entry["expected"]["code"] is None or entry["expected"]["code"] in CODES, entry
    names = [e["name"] for e in v]
    assert len(names) == len(set(names)), "duplicate verdict names"
    covered = {e["expected"]["code"] for e in v}
    assert covered == set(CODES) - {"nonce_replayed"} | {None}, set(CODES) - covered
    return {
        "description": (
            "proof-messenger v1 vectors (docs/PROTOCOL.md). `cases`: signed proofs with every derived value. "
            "`verdicts`: a proof (proof_json as UTF-8, or proof_hex for bytes that are not "
            "UTF-8), a policy and "
            "the verdict. Policy: audience, now_ms, max_age_ms, max_skew_ms, max_bytes, "
            "max_depth, and either "
            "trusted_public_keys_b64 (a fixed set) or subject_keys_b64 (per-subject trust: subject -> keys). "
            "Trusted keys are validated when configured (section 6 step 5): an invalid or weak one makes the "
            "verdict that error code."
        ),
        "generator": "tests/vectors/generate.py",
        "cases": cases,
        "verdicts": v,
    }


CODES = proto.V1_CODES  # docs/PROTOCOL.md section 7, in order


B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _bump_b64(char: str, url: bool = False) -> str:
    """The base64 character with the lowest of its 6 bits flipped (a trailing bit in a final group)."""
    alphabet = B64_ALPHABET.replace("+", "-").replace("/", "_") if url else B64_ALPHABET
    return alphabet[alphabet.index(char) ^ 1]


def _url_alphabet_spelling(seed: bytes) -> str:
    """The key in base64 with the url-safe alphabet (raw or SPKI, whichever has a '+' or '/')."""
    raw = proto.public_key(seed)
    for encoded in (proto.b64(raw), proto.b64(proto.spki(raw))):
        if "+" in encoded or "/" in encoded:
            return encoded.replace("+", "-").replace("/", "_")
    raise AssertionError("pick another seed")


def _nest(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _off_curve_encoding() -> bytes:
    y = 2
    while ref.recover_x(y, 0) is not None:
        y += 1
    return le32(y)


def _torsion_r_signature(seed: bytes, message: bytes, order: int) -> bytes:
    """R' = rB + T with T of the given order, S = r + k'a, k' = H(R' || A || M)."""
    a, prefix = ref.expand_seed(seed)
    a_bytes = (ref.BASE * a).encode()
    t = ref.torsion_generator() * (8 // order)
    assert t.order() == order
    r = int.from_bytes(hashlib.sha512(prefix + message + b"torsion").digest(), "little") % ref.L
    r_bytes = (ref.BASE * r + t).encode()
    s = (r + ref.challenge(r_bytes, a_bytes, message) * a) % ref.L
    signature = r_bytes + le32(s)
    assert ref.verify(a_bytes, message, signature) and not ref.verify_cofactorless(
        a_bytes, message, signature
    )
    return signature


def _mixed_order_key(seed: bytes, order: int) -> bytes:
    """A' = aB + T: a canonical key that is not of small order but has a torsion component."""
    a, _ = ref.expand_seed(seed)
    t = ref.torsion_generator() * (8 // order)
    key = (ref.BASE * a + t).encode()
    assert ref.key_verdict(key) is None
    return key


def _mixed_key_signature(seed: bytes, key: bytes, message: bytes) -> bytes:
    """R = rB, S = r + k a with k = H(R || A' || M): [S]B - R - [k]A' = -[k]T, cleared by the cofactor."""
    a, prefix = ref.expand_seed(seed)
    r = int.from_bytes(hashlib.sha512(prefix + message + b"mixed").digest(), "little") % ref.L
    r_bytes = (ref.BASE * r).encode()
    s = (r + ref.challenge(r_bytes, key, message) * a) % ref.L
    signature = r_bytes + le32(s)
    assert ref.verify(key, message, signature)
    return signature


# ---------------------------------------------------------------- canonical_v1


def c(
    name: str, text: str | bytes, expected: str | None = None, error: str | None = None, **limits: int
) -> dict[str, Any]:
    assert (expected is None) != (error is None)
    entry: dict[str, Any] = {"name": name}
    if isinstance(text, bytes):
        entry["input_hex"] = text.hex()
    else:
        entry["input"] = text
    entry.update(limits)
    if expected is not None:
        entry["expected"] = expected
    else:
        entry["error"] = error
    return entry


def canonical_v1() -> dict[str, Any]:
    controls_in = '"' + "".join(f"\\u{i:04x}" for i in range(0x20)) + '"'
    controls_out = (
        '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f'
        '\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"'
    )
    cases = [
        # structure and whitespace
        c("empty_object", " { } ", "{}"),
        c("empty_array", "[\n]", "[]"),
        c("scalar_true", "true", "true"),
        c("scalar_null", " null\t", "null"),
        c("scalar_string", '"x"', '"x"'),
        c("whitespace_everywhere", ' \t\r\n{ "b" :\t[ 1 , 2 ] ,\r\n"a" : { } } \n', '{"a":{},"b":[1,2]}'),
        c("arrays_keep_order", '[3,1,2,["b","a"]]', '[3,1,2,["b","a"]]'),
        c(
            "nested_sorting",
            '{"b":{"d":1,"c":2},"a":[{"z":0,"y":0}]}',
            '{"a":[{"y":0,"z":0}],"b":{"c":2,"d":1}}',
        ),
        # member order: UTF-16 code units
        c("sort_ascii", '{"b":1,"a":2,"B":3,"aa":4,"":5}', '{"":5,"B":3,"a":2,"aa":4,"b":1}'),
        c(
            "sort_utf16_astral_before_bmp_high",
            '{"\\ufffd":1,"\\ud800\\udc00":2}',
            '{"\U00010000":2,"\ufffd":1}',
        ),
        c(
            "sort_utf16_emoji_vs_private_use",
            '{"\\ue000":1,"\\ud83d\\ude00":2,"z":3}',
            '{"z":3,"\U0001f600":2,"\ue000":1}',
        ),
        c("sort_latin1_vs_ascii", '{"é":1,"z":2,"e":3}', '{"e":3,"z":2,"é":1}'),
        c(
            "sort_is_not_locale",
            '{"peach":1,"péché":2,"pêche":3,"sin":4}',
            '{"peach":1,"péché":2,"pêche":3,"sin":4}',
        ),
        c("sort_control_keys", '{"\\n":1,"\\r":2,"1":3}', '{"\\n":1,"\\r":2,"1":3}'),
        # strings
        c("escape_all_controls", controls_in, controls_out),
        c("escape_quote_backslash", '"\\"\\\\"', '"\\"\\\\"'),
        c("solidus_unescaped", '"\\/a/b"', '"/a/b"'),
        c("del_and_separators_verbatim", '"\\u007f\\u2028\\u2029"', '"\x7f\u2028\u2029"'),
        c("non_ascii_verbatim", '"\\u00e9\\u65e5\\ud834\\udd1e"', '"é日𝄞"'),
        c("unicode_not_normalised", '"A\\u030a"', '"A\u030a"'),
        c("uppercase_hex_escape", '"\\u00C9"', '"É"'),
        c("nul_in_key", '{"\\u0000":0}', '{"\\u0000":0}'),
        # numbers: ECMAScript Number.prototype.toString of the nearest double
        c("number_zero", "0", "0"),
        c("number_negative_zero", "-0", "0"),
        c("number_negative_zero_float", "-0.0", "0"),
        c("number_zero_exponent", "0e10", "0"),
        c("number_one_float", "1.0", "1"),
        c("number_exponent_upper", "1E2", "100"),
        c("number_trailing_zeros", "4.50", "4.5"),
        c("number_tenth", "0.1", "0.1"),
        c("number_1e21", "1e21", "1e+21"),
        c("number_1e20", "1e20", "100000000000000000000"),
        c("number_e20_digits", "123456789012345680000", "123456789012345680000"),
        c("number_1e-7", "1e-7", "1e-7"),
        c("number_1e-6", "0.000001", "0.000001"),
        c("number_2e-3", "2e-3", "0.002"),
        c("number_1e-27", "0.000000000000000000000000001", "1e-27"),
        c("number_1e30", "1E30", "1e+30"),
        c("number_negative_small", "-1.5e-7", "-1.5e-7"),
        c("number_min_subnormal", "5e-324", "5e-324"),
        c("number_min_normal", "2.2250738585072014e-308", "2.2250738585072014e-308"),
        c("number_max", "1.7976931348623157e308", "1.7976931348623157e+308"),
        c("number_max_safe", "9007199254740991", "9007199254740991"),
        c("number_2p53", "9007199254740992", "9007199254740992"),
        c("number_negative_2p53", "-9007199254740992", "-9007199254740992"),
        c("number_2p53_plus_2", "9007199254740994", "9007199254740994"),
        c("number_2p60_as_printed", "1152921504606847000", "1152921504606847000"),
        c("number_shortest_17_digits", "0.30000000000000004", "0.30000000000000004"),
        c("number_one_third", "0.3333333333333333", "0.3333333333333333"),
        c(
            "number_values_json_fixed",
            "[333333333.3333333,1E30,4.50,2e-3,0.000000000000000000000000001]",
            "[333333333.3333333,1e+30,4.5,0.002,1e-27]",
        ),
        c("number_exponent_plus", "1.5e+3", "1500"),
        c("number_many_leading_fraction_zeros", "0.0000000000000000000000000000000000000001", "1e-40"),
        c("number_long_exact_trailing_zeros", "1.000000000000000000000000000000", "1"),
        # number errors
        c("nan", "NaN", error="non_finite_number"),
        c("infinity", "Infinity", error="non_finite_number"),
        c("negative_infinity", "[-Infinity]", error="non_finite_number"),
        c("overflow", "1e400", error="non_finite_number"),
        c("overflow_negative", "-1e400", error="non_finite_number"),
        c("overflow_just_above_max", "1.7976931348623159e308", error="non_finite_number"),
        c("inexact_just_below_overflow", "1.7976931348623158e308", error="inexact_number"),
        c("inexact_2p53_plus_1", "9007199254740993", error="inexact_number"),
        c("inexact_2p60", "1152921504606846976", error="inexact_number"),
        c("inexact_point_three", "0.30000000000000001", error="inexact_number"),
        c("inexact_underflow", "1e-400", error="inexact_number"),
        c("inexact_values_json", "333333333.33333329", error="inexact_number"),
        c(
            "inexact_exact_binary_expansion",
            "0.1000000000000000055511151231257827021181583404541015625",
            error="inexact_number",
        ),
        c("inexact_subnormal_long", "4.9406564584124654e-324", error="inexact_number"),
        c("inexact_one_plus_epsilon_half", "1.00000000000000011", error="inexact_number"),
        # other input errors
        c("duplicate_key", '{"a":1,"a":1}', error="duplicate_key"),
        c("duplicate_key_after_unescape", '{"a":1,"\\u0061":2}', error="duplicate_key"),
        c("duplicate_key_nested", '[{"x":{"k":1,"k":2}}]', error="duplicate_key"),
        c("not_duplicate_normalisation", '{"\\u00e9":1,"e\\u0301":2}', '{"e\u0301":2,"\u00e9":1}'),
        c("lone_high_surrogate", '"\\ud800"', error="lone_surrogate"),
        c("lone_low_surrogate", '"\\udc00"', error="lone_surrogate"),
        c("high_then_letter", '"\\ud800\\u0041"', error="lone_surrogate"),
        c("high_then_high", '"\\ud800\\ud800"', error="lone_surrogate"),
        c("low_then_high", '"\\udfff\\ud800"', error="lone_surrogate"),
        c("high_at_end_of_string", '"a\\udbff"', error="lone_surrogate"),
        c("lone_surrogate_in_key", '{"\\ud800":1}', error="lone_surrogate"),
        c("invalid_utf8_ff", b'"\xff"', error="invalid_utf8"),
        c("invalid_utf8_truncated", b'"\xc3"', error="invalid_utf8"),
        c("invalid_utf8_encoded_surrogate", b'"\xed\xa0\x80"', error="invalid_utf8"),
        c("invalid_utf8_overlong", b'"\xc0\xaf"', error="invalid_utf8"),
        c("invalid_utf8_above_max", b'"\xf4\x90\x80\x80"', error="invalid_utf8"),
        c("invalid_utf8_outside_string", b"[1]\x80", error="invalid_utf8"),
        c("bom", b"\xef\xbb\xbf{}", error="invalid_json"),
        c("empty_input", "", error="invalid_json"),
        c("only_whitespace", " \n", error="invalid_json"),
        c("trailing_data", "{} {}", error="invalid_json"),
        c("trailing_comma_array", "[1,]", error="invalid_json"),
        c("trailing_comma_object", '{"a":1,}', error="invalid_json"),
        c("leading_zero", "01", error="invalid_json"),
        c("leading_zero_negative", "-01", error="invalid_json"),
        c("leading_plus", "+1", error="invalid_json"),
        c("leading_dot", ".5", error="invalid_json"),
        c("trailing_dot", "1.", error="invalid_json"),
        c("exponent_without_digits", "1e", error="invalid_json"),
        c("lone_minus", "-", error="invalid_json"),
        c("hex_number", "0x10", error="invalid_json"),
        c("single_quotes", "['a']", error="invalid_json"),
        c("unquoted_key", "{a:1}", error="invalid_json"),
        c("comment", "[1 /* c */]", error="invalid_json"),
        c("raw_tab_in_string", '"a\tb"', error="invalid_json"),
        c("raw_newline_in_string", '"a\nb"', error="invalid_json"),
        c("invalid_escape", '"\\x41"', error="invalid_json"),
        c("short_unicode_escape", '"\\u12"', error="invalid_json"),
        c("unterminated_string", '"abc', error="invalid_json"),
        c("unterminated_array", "[1,2", error="invalid_json"),
        c("literal_case", "True", error="invalid_json"),
        c("non_breaking_space_whitespace", "[1,\u00a02]", error="invalid_json"),
        c("nan_lowercase", "nan", error="invalid_json"),
        # limits
        c("depth_32", "[" * 32 + "]" * 32, "[" * 32 + "]" * 32),
        c("depth_33", "[" * 33 + "]" * 33, error="nesting_too_deep"),
        c("depth_objects_33", '{"a":' * 33 + "0" + "}" * 33, error="nesting_too_deep"),
        c("depth_custom_limit", "[[1]]", error="nesting_too_deep", max_depth=1),
        c("depth_zero_scalar", "1", "1", max_depth=0),
        c("size_at_limit", '"' + "a" * 14 + '"', '"' + "a" * 14 + '"', max_bytes=16),
        c("size_over_limit", '"' + "a" * 15 + '"', error="input_too_large", max_bytes=16),
        c("size_before_utf8", b"\xff" * 17, error="input_too_large", max_bytes=16),
    ]
    for entry in cases:
        assert entry.get("error") is None or entry["error"] in CODES, entry
        if "expected" in entry and "input" in entry:
            # Cross-check with Python's json + the rfc8785 package where they can represent the value.
            try:
                oracle = proto.canonical(json.loads(entry["input"])).decode("utf-8")
            except Exception:
                continue
            assert oracle == entry["expected"], (entry, oracle)
    names = [e["name"] for e in cases]
    assert len(names) == len(set(names))
    return {
        "description": (
            "RFC 8785 canonical form under the input rules of docs/PROTOCOL.md section 3. "
            "`input` is JSON text "
            "(UTF-8), or `input_hex` for bytes that are not UTF-8; `max_bytes`/`max_depth` "
            "default to 65536/32. "
            "Either `expected` (the canonical text) or `error` (the code)."
        ),
        "generator": "tests/vectors/generate.py",
        "cases": cases,
    }


# ---------------------------------------------------------------- ed25519_edge


def edge_envelope(name: str) -> tuple[dict[str, Any], bytes]:
    context = {"action": "ed25519-edge-case", "case": name}
    nonce = nonce_of("edge/" + name, 16)
    return {"context": context, "audience": "edge-tests", "timestamp": TS, "nonce": nonce}, proto.envelope(
        context, "edge-tests", TS, nonce
    )["signed_digest"]


def pynacl_verifies(key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def ed25519_edge() -> dict[str, Any]:
    torsion = ref.torsion_points()
    keys: list[dict[str, Any]] = []

    def key_case(name: str, encoding: bytes, comment: str) -> None:
        decoded = ref.decode(encoding)
        keys.append(
            {
                "name": name,
                "public_key_hex": encoding.hex(),
                "expected": ref.key_verdict(encoding),
                "y_canonical": decoded.y_canonical,
                "on_curve": decoded.point is not None,
                "rfc8032_decodes": decoded.canonical,
                "small_order": None if decoded.point is None else decoded.point.is_small_order(),
                "comment": comment,
            }
        )

    for i, t in enumerate(torsion):
        key_case(f"torsion_{i}_order_{t.order()}", t.encode(), f"[{i}]T for T of order 8: small order")
    key_case("identity_sign_bit", le32(1 | 1 << 255), "x = 0 with the sign bit set: RFC 8032 decoding fails")
    key_case(
        "order_2_sign_bit",
        le32(ref.P - 1 | 1 << 255),
        "(0, -1) with the sign bit set: RFC 8032 decoding fails",
    )
    for y in range(ref.P, 2**255):
        for sign in (0, 1):
            off = y - ref.P
            key_case(
                f"y_eq_p_plus_{off}_sign_{sign}", le32(y | sign << 255), f"non-canonical y = p + {off} (>= p)"
            )
    y = 2
    found = 0
    while found < 3:
        if ref.recover_x(y, 0) is None:
            key_case(f"off_curve_y_{y}", le32(y), "no x satisfies the curve equation")
            found += 1
        y += 1
    edge_pk = proto.public_key(EDGE)
    key_case("honest", edge_pk, "an honestly generated key")
    for order in (2, 4, 8):
        key_case(
            f"mixed_order_torsion_{order}",
            _mixed_order_key(EDGE, order),
            f"aB + T, T of order {order}: not small order, so a valid key",
        )

    signatures: list[dict[str, Any]] = []
    a_secret, _ = ref.expand_seed(EDGE)

    def sig_case(
        name: str,
        signature: bytes,
        comment: str,
        key: bytes = edge_pk,
        message: bytes | None = None,
        envelope: dict[str, Any] | None = None,
    ) -> None:
        assert message is not None and envelope is not None
        rejected_by = ref.rejection(key, message, signature)
        proof = dict(
            envelope, version=1, algorithm="Ed25519", publicKey=proto.b64(key), signature=proto.b64(signature)
        )
        cofactorless = ref.verify_cofactorless(key, message, signature)
        assert pynacl_verifies(key, message, signature) == cofactorless, name
        signatures.append(
            {
                "name": name,
                "public_key_hex": key.hex(),
                "message_hex": message.hex(),
                "signature_hex": signature.hex(),
                "valid": rejected_by is None,
                "rejected_by": rejected_by,
                "cofactorless_valid": cofactorless,
                "comment": comment,
                "proof_json": dumps(proof),
                "proof_policy": policy("edge-tests", TS, [proto.b64(key)]),
                "proof_expected": {
                    "valid": rejected_by is None,
                    "code": None if rejected_by is None else "bad_signature",
                },
            }
        )

    def env(name: str) -> dict[str, Any]:
        envelope, message = edge_envelope(name)
        return {"envelope": envelope, "message": message}

    e = env("honest")
    sig_case(
        "honest", proto.ed25519_sign(EDGE, e["message"]), "RFC 8032 signature: valid under both rules", **e
    )
    for order in (2, 4, 8):
        e = env(f"torsion_r_order_{order}")
        sig_case(
            f"torsion_r_order_{order}",
            _torsion_r_signature(EDGE, e["message"], order),
            f"R' = rB + T (T of order {order}), S = r + k'a, k' = H(R'||A||M): valid only with the cofactor",
            **e,
        )
    for order in (2, 4, 8):
        e = env(f"mixed_order_key_{order}")
        mixed = _mixed_order_key(EDGE, order)
        sig_case(
            f"mixed_order_key_{order}",
            _mixed_key_signature(EDGE, mixed, e["message"]),
            f"A' = aB + T (order {order}), R = rB, S = r + k a: [S]B - R - [k]A' = -[k]T, "
            f"cleared by the cofactor",
            key=mixed,
            **e,
        )
    e = env("s_plus_l")
    honest = proto.ed25519_sign(EDGE, e["message"])
    s = int.from_bytes(honest[32:], "little")
    sig_case(
        "s_plus_l", honest[:32] + le32(s + ref.L), "S + L: same scalar mod L, non-canonical (rule 1)", **e
    )
    e = env("s_plus_8l")
    honest = proto.ed25519_sign(EDGE, e["message"])
    s = int.from_bytes(honest[32:], "little")
    sig_case("s_plus_8l", honest[:32] + le32(s + 8 * ref.L), "S + 8L (rule 1)", **e)
    e = env("s_equals_l")
    sig_case("s_equals_l", proto.ed25519_sign(EDGE, e["message"])[:32] + le32(ref.L), "S = L (rule 1)", **e)
    e = env("s_high_bit")
    honest = proto.ed25519_sign(EDGE, e["message"])
    sig_case("s_high_bit", honest[:63] + bytes([honest[63] | 0x80]), "bit 255 of S set (rule 1)", **e)
    for i, t in enumerate(torsion):
        name = f"small_order_r_{i}_order_{t.order()}"
        e = env(name)
        sig = edge_signature(EDGE, e["message"], t, lambda k: k * a_secret % ref.L)
        assert ref.rejection(edge_pk, e["message"], sig) == "rule3"
        sig_case(name, sig, "R of small order, S = k*a: the cofactored equation holds, rule 3 rejects", **e)
    noncanonical_small = [
        ("identity_y_p_plus_1", le32(ref.P + 1)),
        ("identity_y_p_plus_1_sign", le32(ref.P + 1 | 1 << 255)),
        ("identity_sign_bit", le32(1 | 1 << 255)),
        ("order_2_sign_bit", le32(ref.P - 1 | 1 << 255)),
        ("order_4_y_p", le32(ref.P)),
        ("order_4_y_p_sign", le32(ref.P | 1 << 255)),
    ]
    for label, r_bytes in noncanonical_small:
        name = f"non_canonical_r_{label}"
        e = env(name)
        k = ref.challenge(r_bytes, edge_pk, e["message"])
        sig = r_bytes + le32(k * a_secret % ref.L)
        lenient = ref.decode(r_bytes).point
        assert lenient is not None and lenient.is_small_order()
        assert ref.rejection(edge_pk, e["message"], sig) == "rule2"
        sig_case(
            name,
            sig,
            "non-canonical spelling of a small-order R, S = k*a: holds if decoded leniently (rule 2)",
            **e,
        )
    y = 2
    while ref.recover_x(y, 0) is None or ref.decode(le32(y)).point.is_small_order():  # type: ignore[union-attr]
        y += 1
    e = env("non_canonical_r_large_order")
    sig_case(
        "non_canonical_r_large_order",
        le32(ref.P + y) + le32(12345),
        f"R spelled y = p + {y} (a point of large order), rule 2",
        **e,
    )
    e = env("off_curve_r")
    sig_case("off_curve_r", _off_curve_encoding() + le32(1), "R not on the curve (rule 2)", **e)
    e = env("bit_flip")
    honest = bytearray(proto.ed25519_sign(EDGE, e["message"]))
    honest[40] ^= 0x10
    sig_case("bit_flip_in_s", bytes(honest), "one bit of S flipped (rule 4)", **e)
    e = env("torsion_r_wrong_k")
    honest = proto.ed25519_sign(EDGE, e["message"])
    r_point = ref.decode_canonical(honest[:32])
    assert r_point is not None
    moved = (r_point + torsion[1]).encode() + honest[32:]
    sig_case(
        "torsion_added_to_r_without_resigning", moved, "R + T with the old S: k changes with R (rule 4)", **e
    )
    e = env("other_message")
    other = proto.ed25519_sign(EDGE, hashlib.sha256(b"another message").digest())
    sig_case("signature_of_other_message", other, "a valid signature of another message (rule 4)", **e)

    return {
        "description": (
            "Adversarial Ed25519 cases with the verdict of docs/PROTOCOL.md section 5 "
            "(strict encodings, no small "
            "order, cofactored equation). `public_keys[].expected`: null (a valid key) or "
            "the error code when the "
            "key is enrolled/configured. `signatures[]`: `valid` under the protocol rule, "
            "`rejected_by` (rule1 S >= L, "
            "rule2 non-canonical or off-curve A/R, rule3 small-order A/R, rule4 equation), "
            "and `cofactorless_valid`, "
            "the verdict of the cofactorless check of ed25519-dalek verify_strict and "
            "libsodium/PyNaCl. Every "
            "signature is over the signed_digest of `proof_json`, which under `proof_policy` must give "
            "`proof_expected`. Non-canonical encodings include x = 0 with the sign bit set "
            "(RFC 8032 section 5.1.3 "
            "step 4 rejects them)."
        ),
        "generator": "tests/vectors/generate.py",
        "public_keys": keys,
        "signatures": signatures,
    }


# ---------------------------------------------------------------- main


def write(name: str, data: dict[str, Any], force: bool, out: Path = HERE) -> None:
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    path = out / name
    if path.exists() and path.read_text(encoding="utf-8") != text and not force:
        raise SystemExit(
            f"{path} exists with different content; committed vectors must not change (use --force)"
        )
    path.write_text(text, encoding="utf-8")
    try:
        shown = path.relative_to(HERE.parent.parent)
    except ValueError:
        shown = path
    print(f"wrote {shown}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the proof-messenger v1 test vectors.")
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: tests/vectors)")
    parser.add_argument("--force", action="store_true", help="overwrite files whose content differs")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    write("rfc8032.json", rfc8032(), args.force, out)
    write("proof_v1.json", proof_v1(), args.force, out)
    write("canonical_v1.json", canonical_v1(), args.force, out)
    write("ed25519_edge.json", ed25519_edge(), args.force, out)


if __name__ == "__main__":
    main()

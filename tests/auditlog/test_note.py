"""C2SP signed notes and checkpoints against the Go reference implementation's vectors."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from proof_messenger.auditlog.note import (
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    key_hash,
    open_checkpoint,
    open_note,
    sign_note,
    split_notes,
)

from .vectors import NOTE_ENOCH_SIG, NOTE_ENOCH_VKEY, NOTE_PETER_SIG, NOTE_SKEY, NOTE_TEXT, NOTE_VKEY


def test_signing_reproduces_the_go_reference_note_byte_for_byte() -> None:
    signer = Signer.from_skey(NOTE_SKEY)
    assert signer.verifier.vkey == NOTE_VKEY
    assert sign_note(NOTE_TEXT, signer) == NOTE_TEXT + "\n" + NOTE_PETER_SIG


def test_key_hash_is_sha256_of_name_newline_alg_key() -> None:
    v = Verifier.from_vkey(NOTE_VKEY)
    assert key_hash("PeterNeumann", b"\x01" + v.raw).hex() == "c74f20a3"


def test_open_verifies_known_and_ignores_unknown_signatures() -> None:
    peter = Verifier.from_vkey(NOTE_VKEY)
    enoch = Verifier.from_vkey(NOTE_ENOCH_VKEY)
    msg = NOTE_TEXT + "\n" + NOTE_PETER_SIG + NOTE_ENOCH_SIG
    note = open_note(msg, [peter])
    assert note.text == NOTE_TEXT
    assert [s.name for s in note.signatures] == ["PeterNeumann"]
    assert [s.name for s in note.unverified] == ["EnochRoot"]
    assert len(open_note(msg, [peter, enoch]).signatures) == 2
    with pytest.raises(NoteError, match="no verifiable"):
        open_note(msg, [])


def test_a_bad_signature_by_a_known_key_is_an_error() -> None:
    peter = Verifier.from_vkey(NOTE_VKEY)
    sig = NOTE_PETER_SIG
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(NOTE_TEXT + "\n" + sig[:60] + "ABCD" + sig[60:], [peter])
    with pytest.raises(NoteError):
        open_note(NOTE_TEXT.replace("cryptography", "cryptographY") + "\n" + sig, [peter])


@pytest.mark.parametrize(
    "msg",
    [
        NOTE_TEXT,
        NOTE_TEXT + "\n",
        NOTE_TEXT + "\n" + NOTE_PETER_SIG[:-1],
        "\x01" + NOTE_TEXT + "\n" + NOTE_PETER_SIG,
        NOTE_TEXT + "\n" + NOTE_PETER_SIG.replace("PeterNeumann", "Bad Name"),
        NOTE_TEXT + "\n" + NOTE_PETER_SIG + "Unexpected line.\n",
        NOTE_TEXT + "\n" + NOTE_PETER_SIG * 101,
    ],
)
def test_malformed_notes_are_rejected(msg: str) -> None:
    """The malformed messages of Go's TestOpen."""
    with pytest.raises(NoteError):
        open_note(msg, [Verifier.from_vkey(NOTE_VKEY)])


def test_non_utf8_is_rejected() -> None:
    with pytest.raises(NoteError):
        open_note(b"\xff" + (NOTE_TEXT + "\n" + NOTE_PETER_SIG).encode(), [Verifier.from_vkey(NOTE_VKEY)])


def test_mangled_vkeys_are_rejected() -> None:
    b = NOTE_VKEY
    for i in range(len(b)):
        mangled = b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :]
        with pytest.raises(NoteError):
            Verifier.from_vkey(mangled)
    for cut in (5, 13, 22, len(b) - 1):
        with pytest.raises(NoteError):
            Verifier.from_vkey(b[:cut])
    with pytest.raises(NoteError):  # unknown algorithm, with adjusted key hash (Go's test)
        Verifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_pem_round_trip_and_proof_messenger_keys_interoperate() -> None:
    import proof_messenger as pm

    s = Signer.generate("example.com/log")
    again = Signer.from_pem("example.com/log", s.to_pem())
    assert again.verifier == s.verifier
    assert "PRIVATE" not in repr(s)
    # The log key file is PKCS#8 PEM: the package's own key type reads it too.
    sk = pm.SigningKey.from_pem(s.to_pem())
    assert sk.verifying_key.to_bytes() == s.verifier.raw


def test_checkpoint_text_round_trip_and_signing() -> None:
    root = bytes(range(32))
    cp = Checkpoint("example.com/audit/0", 12345, root)
    text = cp.to_text()
    assert text == f"example.com/audit/0\n12345\n{base64.b64encode(root).decode()}\n"
    assert Checkpoint.from_text(text) == cp
    signer = Signer.generate("example.com/audit/0")
    note = sign_note(text, signer)
    assert open_checkpoint(note, [signer.verifier]) == cp
    other = Signer.generate("example.com/audit/0")
    with pytest.raises(NoteError):
        open_checkpoint(note, [other.verifier])


@pytest.mark.parametrize(
    "text",
    [
        "o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",  # leading zero
        "o\n-1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
        "o\n1\nAAAA\n",  # short hash
        "o\n1\n",
        "o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n",  # empty extension line
        "\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    ],
)
def test_malformed_checkpoints(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.from_text(text)


def test_split_notes_detects_a_torn_record() -> None:
    s = Signer.generate("o")
    a = sign_note(Checkpoint("o", 1, bytes(32)).to_text(), s)
    b = sign_note(Checkpoint("o", 2, bytes(32)).to_text(), s)
    stream = a + "\n" + b + "\n"
    assert split_notes(stream, strict=True) == ([a, b], len(stream))
    torn = stream[:-10]
    notes, done = split_notes(torn, strict=True)
    assert notes == [a] and done == len(a) + 1
    assert split_notes(a + "\n" + b, strict=False)[0] == [a, b]  # a single saved note needs no separator


def test_the_core_log_key_signs_what_openssl_signs() -> None:
    """Signer signs with the core's LogKey (dalek) for speed; RFC 8032 is deterministic, so
    each signature must be OpenSSL's byte for byte, and verify under the public key."""
    import os

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from proof_messenger._core import LogKey

    for n in range(50):
        private = Ed25519PrivateKey.generate()
        seed = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        message = os.urandom(n * 7)
        key = LogKey(seed)
        assert key.sign(message) == private.sign(message)
        assert key.public_key() == private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    assert "<secret>" in repr(key) and seed.hex() not in repr(key)
    for bad in (b"", b"\x00" * 31, b"\x00" * 33):
        with pytest.raises(ValueError, match="32 bytes"):
            LogKey(bad)

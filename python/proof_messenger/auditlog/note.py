"""C2SP signed notes (c2sp.org/signed-note) and checkpoints (c2sp.org/tlog-checkpoint).

A signed note is UTF-8 text ending in a newline, a blank line, then one line
per signature: ``— <key name> <base64(key hash || signature)>``. The key
hash of an Ed25519 key is the first four bytes of ``SHA-256(name || "\\n" ||
0x01 || public key)``. Keys travel as *vkeys*, ``<name>+<hash hex>+<base64(0x01
|| public key)>``, the format Go's ``golang.org/x/mod/sumdb/note`` reads, so
checkpoints signed here verify with that package, with witnesses and monitors
of the transparency-dev ecosystem, and vice versa.

The log key is a plain Ed25519 key held by ``cryptography`` (the package's
own :class:`proof_messenger.SigningKey` signs proofs, not arbitrary bytes; the
log key is not a proof key). It is stored as PKCS#8 PEM, the format
``pm.SigningKey.from_pem`` also reads.

A checkpoint's text is ``<origin>\\n<tree size>\\n<base64 root hash>\\n`` and
optional extension lines.

>>> signer = Signer.generate("example.com/log")
>>> note = sign_note(Checkpoint("example.com/log", 1, b"\\x00" * 32).to_text(), signer)
>>> open_checkpoint(note, [signer.verifier]).size
1
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from proof_messenger._core import LogKey

SIG_PREFIX = "\u2014 "  # em dash, space
ALG_ED25519 = 0x01
MAX_SIGNATURES = 100
_NAME = re.compile(r"[^\s+]+")  # no whitespace (incl. Unicode spaces), no "+"
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class NoteError(ValueError):
    """A note, key or checkpoint is malformed, or its signature does not verify."""


def _b64decode(s: str) -> bytes:
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError("bad base64") from None
    if base64.b64encode(raw).decode("ascii") != s:  # one spelling per value
        raise NoteError("non-canonical base64")
    return raw


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise NoteError(f"bad key name {name!r}")


def key_hash(name: str, key: bytes) -> bytes:
    """The 4-byte key hash of ``key`` (algorithm byte + public key) under ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + key).digest()[:4]


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(self.key_hash + self.signature).decode()}\n"


class Verifier:
    """An Ed25519 note verifier: a key name and a public key."""

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _check_name(name)
        self.name = name
        self.public_key = public_key
        self.key_hash = key_hash(name, bytes([ALG_ED25519]) + self.raw)

    @property
    def raw(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def vkey(self) -> str:
        material = base64.b64encode(bytes([ALG_ED25519]) + self.raw).decode()
        return f"{self.name}+{self.key_hash.hex()}+{material}"

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parses ``<name>+<hash>+<base64 key>`` and checks the hash matches."""
        name, sep, rest = vkey.strip().partition("+")
        hash_hex, sep2, material = rest.partition("+")
        if not (sep and sep2) or not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
            raise NoteError("malformed verifier key")
        key = _b64decode(material)
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 key")
        v = cls(name, Ed25519PublicKey.from_public_bytes(key[1:]))
        if v.key_hash.hex() != hash_hex:
            raise NoteError("verifier key hash does not match its key")
        return v

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verifier) and other.vkey == self.vkey

    def __hash__(self) -> int:
        return hash(self.vkey)

    def __repr__(self) -> str:
        return f"Verifier({self.vkey!r})"


class Signer:
    """An Ed25519 note signer (the log key). Its secret is never printed."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_name(name)
        self.name = name
        self._key = private_key
        self.verifier = Verifier(name, private_key.public_key())
        # Signs with the core (the relay signs a checkpoint per request group; OpenSSL's
        # Ed25519 costs several times more). RFC 8032 signatures are deterministic, so
        # both give the same bytes (tests/auditlog/test_note.py checks it).
        self._fast = LogKey(self.secret_bytes())

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, name: str, pem: bytes) -> Signer:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError):  # not PEM, not a key, or encrypted (the relay cannot prompt)
            raise NoteError("the log key is not an unencrypted PKCS#8 PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise NoteError("the log key must be an Ed25519 private key")
        return cls(name, key)

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Parses Go's ``PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>``."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("malformed signer key")
        seed = _b64decode(parts[4])
        if len(seed) != 33 or seed[0] != ALG_ED25519:
            raise NoteError("signer key is not an Ed25519 key")
        s = cls(parts[2], Ed25519PrivateKey.from_private_bytes(seed[1:]))
        if s.verifier.key_hash.hex() != parts[3]:
            raise NoteError("signer key hash does not match its key")
        return s

    def to_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def secret_bytes(self) -> bytes:
        """The raw 32-byte seed, for deriving keys that only this log holds."""
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def sign(self, message: bytes) -> Signature:
        return Signature(self.name, self.verifier.key_hash, self._fast.sign(message))

    def __repr__(self) -> str:
        return f"Signer({self.verifier.vkey!r})"


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")  # control characters other than newline


def _check_text(text: str) -> None:
    if not text.endswith("\n") or _CONTROL.search(text):
        raise NoteError("malformed note text")


def sign_note(text: str, *signers: Signer) -> str:
    """The signed note: ``text``, a blank line, one signature line per signer."""
    _check_text(text)
    message = text.encode()
    return text + "\n" + "".join(s.sign(message).line() for s in signers)


def _parse_signature(line: str) -> Signature:
    if not line.startswith(SIG_PREFIX):
        raise NoteError("malformed signature line")
    name, sep, b64 = line[len(SIG_PREFIX) :].partition(" ")
    if not sep:
        raise NoteError("malformed signature line")
    _check_name(name)
    raw = _b64decode(b64)
    if len(raw) < 5:
        raise NoteError("malformed signature line")
    return Signature(name, raw[:4], raw[4:])


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    signatures: tuple[Signature, ...]  # verified ones
    unverified: tuple[Signature, ...]  # by keys not among the verifiers


def split_note(message: str) -> tuple[str, list[Signature]]:
    """Parses a signed note without verifying it."""
    _check_text(message)
    cut = message.rfind("\n\n")
    if cut < 0:
        raise NoteError("malformed note: no signature block")
    text, block = message[: cut + 1], message[cut + 2 :]
    lines = block.split("\n")
    if lines[-1] != "" or len(lines) < 2:
        raise NoteError("malformed note: signature block must end with a newline")
    sigs = [_parse_signature(line) for line in lines[:-1]]
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError("malformed note: too many signatures")
    return text, sigs


def open_note(message: str | bytes, verifiers: Iterable[Verifier]) -> Note:
    """Verifies ``message``: at least one signature must come from ``verifiers``
    and every signature by a known key must be valid. Raises :class:`NoteError`."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not UTF-8") from None
    text, sigs = split_note(message)
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        known.setdefault((v.name, v.key_hash), v)
    good: list[Signature] = []
    other: list[Signature] = []
    payload = text.encode()
    for sig in sigs:
        verifier = known.get((sig.name, sig.key_hash))
        if verifier is None:
            other.append(sig)
        elif not verifier.verify(payload, sig.signature):
            raise NoteError(f"invalid signature for key {sig.name}+{sig.key_hash.hex()}")
        elif sig not in good:
            good.append(sig)
    if not good:
        raise NoteError("note has no verifiable signatures")
    return Note(text, tuple(good), tuple(other))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def to_text(self) -> str:
        if not self.origin or len(self.root_hash) != 32 or self.size < 0:
            raise NoteError("malformed checkpoint")
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        text = "".join(line + "\n" for line in lines)
        if any(not line for line in lines):
            raise NoteError("malformed checkpoint: empty line")
        _check_text(text)
        return text

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("malformed checkpoint")
        origin, size, root = lines[0], lines[1], lines[2]
        if not _SIZE.fullmatch(size) or int(size) >= 1 << 63:
            raise NoteError("malformed checkpoint size")
        root_hash = _b64decode(root)
        if len(root_hash) != 32:
            raise NoteError("malformed checkpoint root hash")
        return cls(origin, int(size), root_hash, tuple(lines[3:-1]))


def open_checkpoint(message: str | bytes, verifiers: Iterable[Verifier]) -> Checkpoint:
    """Verifies a signed checkpoint and parses its text."""
    return Checkpoint.from_text(open_note(message, verifiers).text)


def split_notes(data: str, *, strict: bool = False) -> tuple[list[str], int]:
    """Splits a stream of signed notes, each followed by a blank line (the
    ``checkpoints`` file and witness files). Returns the notes and the length
    of the prefix made of complete records. A trailing note without its blank
    line counts as complete unless ``strict`` (then it may be a torn write)."""
    notes: list[str] = []
    pos, done = 0, 0
    while pos < len(data):
        text_end = data.find("\n\n", pos)
        if text_end < 0:
            break
        sig_end = data.find("\n\n", text_end + 2)
        if sig_end < 0:
            if strict or not data.endswith("\n"):
                break
            notes.append(data[pos:])
            done = len(data)
            break
        notes.append(data[pos : sig_end + 1])
        pos = done = sig_end + 2
    return notes, done


def parse_verifiers(values: Sequence[str]) -> list[Verifier]:
    """vkeys, or files holding vkeys one per line (``#`` comments allowed)."""
    from pathlib import Path

    out: list[Verifier] = []
    for value in values:
        path = Path(value)
        if "+" not in value and path.exists():
            lines = path.read_text().splitlines()
            out.extend(Verifier.from_vkey(s) for s in lines if s.strip() and not s.startswith("#"))
        else:
            out.append(Verifier.from_vkey(value))
    return out

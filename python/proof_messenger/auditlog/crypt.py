"""AES-256-GCM for the private part of audit entries (full contexts at rest).

Each sealed value gets a fresh 96-bit random nonce and names the key that
sealed it (``kid``), so keys rotate: the first key of a :class:`Keyring`
seals, every key in it opens. The additional authenticated data binds the
ciphertext to its entry (its public fields), so a sealed context cannot be
moved to another entry without failing to open.

Keys are 32 random bytes written as base64 (standard or URL-safe), one per
line in a key file (``#`` comments allowed; the first line seals) or
comma-separated in an environment variable. A key id is the first 8 bytes of
``SHA-256("proof-messenger audit key\\x00" || key)`` in hex: it names a key
without revealing it.

Random 96-bit nonces are safe for about 2^32 seals under one key (NIST SP
800-38D); rotate the key well before that many entries.

>>> ring = Keyring([bytes(32)])
>>> sealed = ring.seal(b'{"amount":"50000.00"}', aad=b"entry 1")
>>> ring.open(sealed, aad=b"entry 1")
b'{"amount":"50000.00"}'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ALGORITHM = "A256GCM"
ENV_VAR = "PROOF_MESSENGER_AUDIT_KEY"
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value cannot be opened: unknown key, bad format or failed authentication."""


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64u(s: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except (binascii.Error, ValueError):
        raise SealError("bad base64url") from None


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"proof-messenger audit key\x00" + key).digest()[:8].hex()


def generate_key() -> str:
    """A new key, as the line to put in a key file."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def _parse_key(text: str) -> bytes:
    s = text.strip()
    try:
        raw = base64.b64decode(s.replace("-", "+").replace("_", "/") + "=" * (-len(s) % 4), validate=True)
    except binascii.Error:
        raise ValueError("an audit encryption key must be base64 of 32 bytes") from None
    if len(raw) != 32:
        raise ValueError(f"an audit encryption key must be 32 bytes (AES-256), got {len(raw)}")
    return raw


class Keyring:
    """AES-256 keys by id; the first one seals."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for k in keys:
            if len(k) != 32:
                raise ValueError("AES-256 keys are 32 bytes")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self.active_id = key_id(keys[0])

    @classmethod
    def parse(cls, text: str, *, separator: str = "\n") -> Keyring:
        items = [line for line in text.split(separator) if line.strip() and not line.lstrip().startswith("#")]
        return cls([_parse_key(line) for line in items])

    @classmethod
    def from_file(cls, path: str | Path) -> Keyring:
        return cls.parse(Path(path).read_text())

    @classmethod
    def from_env(cls, var: str = ENV_VAR) -> Keyring | None:
        value = os.environ.get(var)
        return cls.parse(value, separator=",") if value else None

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def seal(self, plaintext: bytes, *, aad: bytes) -> dict[str, str]:
        nonce = os.urandom(NONCE_BYTES)
        ct = self._keys[self.active_id].encrypt(nonce, plaintext, aad)
        return {"alg": ALGORITHM, "kid": self.active_id, "nonce": _b64u(nonce), "ct": _b64u(ct)}

    def open(self, sealed: Mapping[str, object], *, aad: bytes) -> bytes:
        if sealed.get("alg") != ALGORITHM:
            raise SealError(f"unsupported algorithm {sealed.get('alg')!r}")
        kid, nonce, ct = sealed.get("kid"), sealed.get("nonce"), sealed.get("ct")
        if not (isinstance(kid, str) and isinstance(nonce, str) and isinstance(ct, str)):
            raise SealError("malformed sealed value")
        aes = self._keys.get(kid)
        if aes is None:
            raise SealError(f"no key with id {kid}")
        n = _unb64u(nonce)
        if len(n) != NONCE_BYTES:
            raise SealError("bad nonce length")
        try:
            return aes.decrypt(n, _unb64u(ct), aad)
        except InvalidTag:
            raise SealError("authentication failed (wrong key, or the entry was altered)") from None

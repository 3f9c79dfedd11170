"""AES-256-GCM sealing of contexts at rest."""

from __future__ import annotations

import base64
import os

import pytest
from proof_messenger.auditlog.crypt import ENV_VAR, Keyring, SealError, generate_key, key_id


def test_seal_open_round_trip_with_fresh_nonces() -> None:
    ring = Keyring([os.urandom(32)])
    a = ring.seal(b"context", aad=b"entry")
    b = ring.seal(b"context", aad=b"entry")
    assert a["nonce"] != b["nonce"] and a["ct"] != b["ct"]
    assert a["alg"] == "A256GCM" and a["kid"] == ring.active_id
    assert len(base64.urlsafe_b64decode(a["nonce"] + "==")) == 12
    assert ring.open(a, aad=b"entry") == b"context"


def test_wrong_aad_key_or_ciphertext_fails() -> None:
    ring = Keyring([os.urandom(32)])
    sealed = ring.seal(b"context", aad=b"entry 1")
    with pytest.raises(SealError):
        ring.open(sealed, aad=b"entry 2")  # moved to another entry
    with pytest.raises(SealError):
        Keyring([os.urandom(32)]).open(sealed, aad=b"entry 1")
    flipped = dict(
        sealed, ct=sealed["ct"][:-2] + ("A" if sealed["ct"][-2] != "A" else "B") + sealed["ct"][-1]
    )
    with pytest.raises(SealError):
        ring.open(flipped, aad=b"entry 1")


def test_rotation_old_keys_still_open() -> None:
    old, new = os.urandom(32), os.urandom(32)
    sealed_old = Keyring([old]).seal(b"x", aad=b"")
    rotated = Keyring([new, old])
    assert rotated.active_id == key_id(new)
    assert rotated.seal(b"y", aad=b"")["kid"] == key_id(new)
    assert rotated.open(sealed_old, aad=b"") == b"x"


def test_key_file_and_env(tmp_path, monkeypatch) -> None:
    k1, k2 = generate_key(), generate_key()
    path = tmp_path / "audit.key"
    path.write_text(f"# active first\n{k1}\n\n{k2}\n")
    ring = Keyring.from_file(path)
    assert ring.key_ids == (key_id(base64.b64decode(k1)), key_id(base64.b64decode(k2)))
    monkeypatch.setenv(ENV_VAR, f"{k2},{k1}")
    env = Keyring.from_env()
    assert env is not None and env.active_id == key_id(base64.b64decode(k2))
    monkeypatch.delenv(ENV_VAR)
    assert Keyring.from_env() is None
    with pytest.raises(ValueError):
        Keyring.parse(base64.b64encode(b"short").decode())

"""Replays the relay must refuse, performed against it: the same proof twice, and the same
proof with its nonce spelled differently (the signature covers the nonce's bytes, the
replay store keys on its text: a second spelling of the same bytes must never be a fresh nonce)."""

from __future__ import annotations

import json

import pytest

from .conftest import RelayHarness, sign

pytestmark = pytest.mark.anyio
URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def respelled(nonce: str, bits: int) -> str:
    """The same bytes with non-zero trailing bits in the last character (32 bytes: 2 of them)."""
    last = URL_ALPHABET.index(nonce[-1])
    assert last & 3 == 0
    return nonce[:-1] + URL_ALPHABET[last | bits]


async def test_an_accepted_proof_resent_with_its_nonce_respelled_is_refused(h: RelayHarness) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    proof = sign(key)
    first = await h.verify(proof, client)
    assert first.status_code == 200 and first.json()["valid"] is True
    for bits in (1, 2, 3):
        d = json.loads(proof.to_json())
        d["nonce"] = respelled(d["nonce"], bits)
        body = json.dumps(d).encode()
        single = await h.verify(body, client)
        assert single.status_code == 400, single.text
        assert single.json()["error"]["code"] == "invalid_base64"
        batch = await h.verify_batch([body], client)
        assert batch.status_code == 200
        assert [(v["valid"], v["code"]) for v in batch.json()["results"]] == [(False, "invalid_base64")]
    again = await h.verify(proof, client)
    assert (again.json()["valid"], again.json()["code"]) == (False, "nonce_replayed")


async def test_a_proof_twice_in_one_batch_is_accepted_once(h: RelayHarness) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    proof = sign(key)
    r = await h.verify_batch([proof, proof, proof], client)
    assert [(v["valid"], v["code"]) for v in r.json()["results"]] == [
        (True, None),
        (False, "nonce_replayed"),
        (False, "nonce_replayed"),
    ]

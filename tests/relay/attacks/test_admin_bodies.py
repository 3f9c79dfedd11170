"""Admin and challenge bodies: one text rule, and the protocol's limits on names.

Before: the strict-JSON reader called ``json.loads(bytes)``, which guesses UTF-16 or
UTF-32 and imports their codecs on first use, so a UTF-16 body with a BOM created a
client (the proof endpoints refuse a BOM), and a relay that had dropped its privileges
answered 500 for bodies it could not decode. Subjects and audiences over 255 UTF-8
bytes, which no proof can carry (PROTOCOL.md section 2), were accepted."""

from __future__ import annotations

import json

import httpx
import proof_messenger as pm
import pytest

from ..conftest import RelayProcess
from .conftest import new_client

CLIENT = {"name": "bom-client", "audience": "payments-api"}


def encodings() -> list[tuple[str, bytes]]:
    text = json.dumps(CLIENT)
    return [
        ("utf-8 with BOM", b"\xef\xbb\xbf" + text.encode()),
        ("utf-16 with BOM", text.encode("utf-16")),
        ("utf-16-le", text.encode("utf-16-le")),
        ("utf-16-be", text.encode("utf-16-be")),
        ("utf-32", text.encode("utf-32")),
        ("utf-32-le", text.encode("utf-32-le")),
        ("leading NUL", b"\x00" + text.encode()),
        ("NULs only", b"\x00\x00\x00\x00"),
        ("latin-1", json.dumps({"name": "caf\xe9", "audience": "a"}, ensure_ascii=False).encode("latin-1")),
    ]


@pytest.mark.parametrize(("name", "body"), encodings(), ids=[n for n, _ in encodings()])
@pytest.mark.parametrize("path", ["/v1/admin/clients", "/v1/admin/keys", "/v1/challenges"])
def test_bodies_are_utf8_without_bom(
    relay: RelayProcess, http: httpx.Client, path: str, name: str, body: bytes
) -> None:
    auth = relay.admin if "admin" in path else {"authorization": f"Bearer {new_client(relay, http)}"}
    r = http.post(f"{relay.url}{path}", content=body, headers={**auth, "content-type": "application/json"})
    assert r.status_code == 400, (name, r.status_code, r.text)
    assert r.json()["error"]["code"] == "invalid_request"
    listed = http.get(f"{relay.url}/v1/admin/clients", headers=relay.admin).json()["clients"]
    assert CLIENT["name"] not in [c["name"] for c in listed]


def test_the_same_body_in_utf8_is_accepted(relay: RelayProcess, http: httpx.Client) -> None:
    r = http.post(
        f"{relay.url}/v1/admin/clients",
        content=json.dumps({"name": "caf\xe9", "audience": "a"}, ensure_ascii=False).encode(),
        headers={**relay.admin, "content-type": "application/json"},
    )
    assert r.status_code == 201, r.text


LONG = "\xe9" * 128  # 128 characters, 256 UTF-8 bytes: fits any character count a proof has
EDGE = "\xe9" * 127 + "x"  # 255 bytes: the longest name a proof can carry


def test_audiences_no_proof_can_carry_are_refused(relay: RelayProcess, http: httpx.Client) -> None:
    with pytest.raises(pm.ProofMessengerError):  # the protocol's own limit, in the core
        pm.sign({"subject": "alice"}, pm.SigningKey.generate(), audience=LONG)
    r = http.post(f"{relay.url}/v1/admin/clients", json={"name": "n", "audience": LONG}, headers=relay.admin)
    assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request"), r.text
    assert "255 UTF-8 bytes" in r.json()["error"]["detail"]
    r = http.post(f"{relay.url}/v1/admin/clients", json={"name": "n", "audience": EDGE}, headers=relay.admin)
    assert r.status_code == 201, r.text


def test_subjects_no_proof_can_carry_are_refused(relay: RelayProcess, http: httpx.Client) -> None:
    with pytest.raises(pm.ProofMessengerError):
        pm.sign({"subject": LONG}, pm.SigningKey.generate(), audience="payments-api")
    pub = pm.SigningKey.generate().verifying_key.to_base64()
    client = {"authorization": f"Bearer {new_client(relay, http)}"}
    calls = [
        ("/v1/admin/keys", relay.admin, lambda s: {"subject": s, "publicKey": pub}),
        ("/v1/challenges", client, lambda s: {"subject": s}),
        ("/v1/webauthn/registrations/challenge", relay.admin, lambda s: {"subject": s}),
    ]
    for path, auth, body in calls:
        r = http.post(f"{relay.url}{path}", json=body(LONG), headers=auth)
        assert (r.status_code, r.json()["error"]["code"]) == (400, "invalid_request"), (path, r.text)
        r = http.post(f"{relay.url}{path}", json=body(EDGE), headers=auth)
        assert r.status_code in (200, 201), (path, r.text)

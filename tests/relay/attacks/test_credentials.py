"""Two ``Authorization`` headers: before, the verify endpoints took the last one and the
admin endpoints the first, so a proxy that checks one header and a relay that uses the
other disagree on who is calling. Now any request with more than one is refused (401)."""

from __future__ import annotations

import httpx
import pytest

from ..conftest import RelayProcess, sign
from .conftest import enroll, new_client

JUNK = "Bearer pmk_not-a-key"


@pytest.mark.parametrize("order", ["valid first", "valid last"])
def test_admin_routes_refuse_two_authorization_headers(
    relay: RelayProcess, http: httpx.Client, order: str
) -> None:
    admin = relay.admin["authorization"]
    pair = [admin, JUNK] if order == "valid first" else [JUNK, admin]
    r = http.post(
        f"{relay.url}/v1/admin/clients",
        json={"name": "sneaky", "audience": "payments-api"},
        headers=[("authorization", v) for v in pair],
    )
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    assert "more than one" in r.json()["error"]["detail"]
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    # and nothing was created
    listed = http.get(f"{relay.url}/v1/admin/clients", headers=relay.admin).json()["clients"]
    assert "sneaky" not in [c["name"] for c in listed]


@pytest.mark.parametrize("path", ["/v1/proofs/verify", "/v1/proofs/verify-batch"])
@pytest.mark.parametrize("order", ["valid first", "valid last"])
def test_verify_refuses_two_authorization_headers(
    relay: RelayProcess, http: httpx.Client, path: str, order: str
) -> None:
    key = new_client(relay, http)
    signer = enroll(relay, http)
    valid = f"Bearer {key}"
    pair = [valid, JUNK] if order == "valid first" else [JUNK, valid]
    media = "application/json" if path.endswith("verify") else "application/x-ndjson"
    proof = sign(signer)
    r = http.post(
        f"{relay.url}{path}",
        content=proof.to_json(),
        headers=[*[("authorization", v) for v in pair], ("content-type", media)],
    )
    assert r.status_code == 401, r.text
    assert "more than one" in r.json()["error"]["detail"]
    # the proof's nonce was not spent: with one header it is accepted
    one = http.post(
        f"{relay.url}/v1/proofs/verify",
        content=proof.to_json(),
        headers={"authorization": valid, "content-type": "application/json"},
    )
    assert (one.status_code, one.json()["valid"]) == (200, True), one.text

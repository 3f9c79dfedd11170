"""Any API client could read every other client's audit entries (issue 13, medium).

Before: ``/audit/entries/{i}`` and ``/audit/receipts/{i}`` needed only some valid API
key, so the marketing client read payments' decision about alice. Now an entry and its
full receipt go to the client that made the decision or to a client with the auditor
role; checkpoints, the public key and proofs (hashes only) stay open to API clients.
"""

from __future__ import annotations

import json

import httpx

from ..conftest import RelayProcess, sign
from .conftest import enroll, new_client


def _bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_entries_go_to_their_client_or_an_auditor(relay: RelayProcess) -> None:
    with httpx.Client(timeout=10) as http:
        payments, marketing = new_client(relay, http), new_client(relay, http, audience="marketing")
        r = http.post(
            f"{relay.url}/v1/admin/clients",
            json={"name": "internal audit", "audience": "audit", "role": "auditor"},
            headers=relay.admin,
        )
        assert r.status_code == 201 and r.json()["role"] == "auditor", r.text
        auditor = r.json()["apiKey"]
        alice = enroll(relay, http, "alice-audit")
        v = http.post(
            f"{relay.url}/v1/proofs/verify",
            content=sign(alice, "alice-audit").to_json(),
            headers={**_bearer(payments), "content-type": "application/json"},
        ).json()
        assert v["valid"] is True, v
        index = v["receipt"]["index"]
        assert http.post(f"{relay.url}/v1/admin/audit/checkpoint", headers=relay.admin).status_code == 200

        for path in (f"/audit/entries/{index}", f"/audit/receipts/{index}"):
            refused = http.get(relay.url + path, headers=_bearer(marketing))
            assert refused.status_code == 403, (path, refused.text)
            assert refused.json()["error"]["code"] == "forbidden"
            assert "alice" not in refused.text
            for reader in (payments, auditor):
                r = http.get(relay.url + path, headers=_bearer(reader))
                assert r.status_code == 200, (path, r.text)
        entry = json.loads(http.get(f"{relay.url}/audit/entries/{index}", headers=_bearer(auditor)).content)
        assert entry["subject"] == "alice-audit" and entry["decision"] == "accepted"

        # hashes only: open to every API client, and still closed to anyone without a key
        for path in ("/audit/checkpoint", "/audit/public-key", f"/audit/proof/inclusion?index={index}"):
            assert http.get(relay.url + path, headers=_bearer(marketing)).status_code == 200, path
            assert http.get(relay.url + path).status_code == 401, path
        assert http.get(f"{relay.url}/audit/entries/{index}").status_code == 401


def test_the_role_is_only_client_or_auditor(relay: RelayProcess) -> None:
    with httpx.Client(timeout=10) as http:
        r = http.post(
            f"{relay.url}/v1/admin/clients",
            json={"name": "x", "audience": "audit", "role": "admin"},
            headers=relay.admin,
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", r.text

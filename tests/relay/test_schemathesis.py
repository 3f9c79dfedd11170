"""schemathesis against /openapi.json: no 5xx, every response matches the schema,
with valid credentials and without (auth failures)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import proof_messenger as pm
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from proof_messenger.relay.http import create_app
from proof_messenger.relay.service import Relay, build_relay

from .conftest import make_config


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Relay, str]]:
    """One relay for the module (both tests), with a client and an enrolled key: (relay, API key)."""
    data = tmp_path_factory.mktemp("pm-schemathesis")
    # The fuzzer sends thousands of unauthenticated requests from one address: the per-source
    # limit on failed authentication (tests/relay/attacks/test_admission.py) would answer
    # them 429; here the point is that every one of them is refused 401 before any other check.
    relay = build_relay(make_config(data / "data", auth_failure_limit="1000000/second"), announce=None)
    try:
        _client, api_key = relay.clients.create("schemathesis", audience="payments-api", now_ms=pm.now_ms())
        key = pm.SigningKey.generate()
        relay.registry.enroll(
            "alice", key.verifying_key.to_bytes(), key_id=key.verifying_key.key_id, now_ms=0
        )
        yield relay, api_key
    finally:
        relay.close()


@pytest.fixture(scope="module")
def relay_schema(relay: tuple[Relay, str]) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(relay=relay[0]))


@pytest.fixture(scope="module")
def credentials(relay: tuple[Relay, str]) -> dict[str, dict[str, str]]:
    """Headers for the admin API and for the client API."""
    return {
        "admin": {"Authorization": f"Bearer {relay[0].admin_token}"},
        "client": {"Authorization": f"Bearer {relay[1]}"},
    }


@pytest.fixture(autouse=True)
def _schemathesis_node_id(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy loader reads and renames request.node._nodeid, which pytest 9
    # no longer has (the node id is node._id / node.nodeid): give it the attribute it expects.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("relay_schema")


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):  # type: ignore[no-untyped-def]
    if isinstance(value, list):
        return b"\n".join(json.dumps(item).encode() for item in value)
    return json.dumps(value).encode()


def _credentials(credentials: dict[str, dict[str, str]], path: str) -> dict[str, str]:
    return credentials["admin" if path.startswith("/v1/admin") else "client"]


# derandomize: the same examples on every run, so a CI result is reproducible.
_SETTINGS = settings(
    max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def _excluded(case: schemathesis.Case) -> list:
    # A schema-valid proof can still be refused (bad base64, wrong key...): that is a verdict, not a bug.
    excluded = [schemathesis.checks.positive_data_acceptance]
    if case.path == "/v1/proofs/verify-batch":
        # NDJSON framing: every line gets its own verdict (200), including lines that are not proofs.
        excluded.append(schemathesis.checks.negative_data_rejection)
    return excluded


@schema.parametrize()
@_SETTINGS
def test_api_with_credentials(case: schemathesis.Case, credentials: dict[str, dict[str, str]]) -> None:
    case.call_and_validate(headers=_credentials(credentials, case.path), excluded_checks=_excluded(case))


@schema.parametrize()
@_SETTINGS
def test_api_without_credentials(case: schemathesis.Case) -> None:
    response = case.call_and_validate(excluded_checks=_excluded(case))
    secured = case.operation.definition.raw.get("security")
    if case.method.upper() != case.operation.method.upper():
        # A method the path does not have (negative testing): no operation to authenticate for.
        assert response.status_code == 405, (case.method, case.path, response.status_code)
        assert case.operation.method.upper() in response.headers["allow"][0]
    elif secured:
        # Credentials are checked before anything else (query, path, body): always 401.
        assert response.status_code == 401, (case.method, case.path, response.status_code, response.text)
        assert response.headers["www-authenticate"] == ['Bearer realm="proof-messenger"']
        assert response.json()["error"]["code"] == "unauthorized"
    else:
        assert case.path in ("/healthz", "/readyz", "/metrics"), case.path

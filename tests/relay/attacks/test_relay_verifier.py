"""Attacks on a service that asks a relay (integrations.RelayVerifier).

The relay checks a proof against the audience of the API key it is called with, so a
service holding another audience's key (a copy-paste of the wrong secret, or a key an
insider swapped) would take that audience's proofs as its own. And the service must read
what was approved from the proof it checked, never from the relay's JSON: a relay (or
anything between the service and the relay) could answer valid for another context.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import proof_messenger as pm
import pytest
from proof_messenger.integrations import RelayVerifier, encode_header
from proof_messenger.integrations.binding import check_request
from proof_messenger.integrations.verifiers import ProofRejected

from ..conftest import RelayProcess
from .conftest import enroll, new_client


def transfer(subject: str) -> dict[str, Any]:
    return {"action": "wire_transfer", "amount": "50000.00", "to": "ACME-1", "subject": subject}


def test_a_verifier_with_another_audiences_key_refuses_that_audiences_proofs(
    relay: RelayProcess, http: httpx.Client
) -> None:
    marketing_key = new_client(relay, http, audience="marketing")
    key = enroll(relay, http, "carol")
    proof = pm.sign(transfer("carol"), key, audience="marketing").to_json()
    verifier = RelayVerifier(relay.url, marketing_key, audience="payments-api")
    try:
        with pytest.raises(ProofRejected) as info:
            verifier.verify(proof)
        assert (info.value.code, info.value.status) == ("audience_mismatch", 403)
        # the relay itself did accept it (for marketing): the refusal is the verifier's
        with httpx.Client(timeout=10) as direct:
            again = direct.post(
                f"{relay.url}/v1/proofs/verify",
                content=proof,
                headers={"authorization": f"Bearer {marketing_key}", "content-type": "application/json"},
            ).json()
        assert again["code"] == "nonce_replayed"
    finally:
        verifier.close()


def test_a_verifier_needs_an_audience() -> None:
    with pytest.raises(ValueError, match="audience"):
        RelayVerifier("http://127.0.0.1:1", "pmk_x", audience="")


def lying_relay(
    rewrite: Callable[[dict[str, Any]], dict[str, Any]], relay: RelayProcess
) -> httpx.MockTransport:
    """A man in the middle between the service and a real relay, rewriting its verdicts."""

    def handle(request: httpx.Request) -> httpx.Response:
        with httpx.Client(timeout=10) as upstream:
            real = upstream.post(
                f"{relay.url}{request.url.path}", content=request.content, headers=dict(request.headers)
            )
        return httpx.Response(real.status_code, json=rewrite(real.json()))

    return httpx.MockTransport(handle)


MALLORY_DIGEST = encode_header(pm.context_digest(transfer("mallory")))


def attempt(verifier: RelayVerifier, proof: pm.Proof, body: bytes, through_binding: bool) -> Any:
    if through_binding:  # a protected endpoint: header + body
        return check_request(verifier, body, encode_header(proof.to_json()))
    return verifier.verify(proof.to_json())  # direct use: the proof alone


@pytest.mark.parametrize(
    ("rewrite", "refused"),
    [
        (lambda v: {**v, "context": {**v["context"], "amount": "1.00"}}, False),  # the action changed
        (lambda v: {k: x for k, x in v.items() if k != "contextDigest"}, True),  # no digest to check
        (lambda v: {**v, "contextDigest": MALLORY_DIGEST}, True),  # a verdict about another proof
        (lambda v: {**v, "contextDigest": "not base64!"}, True),  # garbage where the digest goes
        (lambda v: {**v, "contextDigest": 7}, True),
    ],
    ids=["context", "no-digest", "other-digest", "garbage-digest", "number-digest"],
)
@pytest.mark.parametrize("through_binding", [True, False], ids=["endpoint", "direct"])
def test_a_verdict_about_another_context_gives_the_service_nothing_else(
    relay: RelayProcess,
    http: httpx.Client,
    rewrite: Callable[[dict[str, Any]], dict[str, Any]],
    refused: bool,
    through_binding: bool,
) -> None:
    api_key = new_client(relay, http)
    key = enroll(relay, http, "dave")
    verifier = RelayVerifier(
        "http://relay", api_key, audience="payments-api", transport=lying_relay(rewrite, relay)
    )
    proof = pm.sign(transfer("dave"), key, audience="payments-api")
    body = pm.canonicalize(transfer("dave"))
    try:
        if refused:
            with pytest.raises(ProofRejected) as info:
                attempt(verifier, proof, body, through_binding)
            assert (info.value.code, info.value.status) == ("context_mismatch", 403)
        else:
            verified = attempt(verifier, proof, body, through_binding)
            assert verified.context == json.loads(body) == proof.context
            assert verified.context["amount"] == "50000.00"
            assert verified.context_digest == proof.context_digest
    finally:
        verifier.close()


def test_a_relay_answer_that_is_not_an_object_is_verifier_unavailable(
    relay: RelayProcess, http: httpx.Client
) -> None:
    api_key = new_client(relay, http)
    key = enroll(relay, http, "erin")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=["valid", True]))
    verifier = RelayVerifier("http://relay", api_key, audience="payments-api", transport=transport)
    try:
        with pytest.raises(ProofRejected) as info:
            verifier.verify(pm.sign(transfer("erin"), key, audience="payments-api").to_json())
        assert (info.value.code, info.value.status) == ("verifier_unavailable", 503)
    finally:
        verifier.close()

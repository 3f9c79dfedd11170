"""A verify-batch larger than the client rate limit's budget can never pass: before, it
was answered 429 with ``Retry-After: 1`` forever, so a client retried it forever. Now it
is refused with ``batch_too_large`` (413) and a detail naming the limit, nothing is
charged, and the relay warns at start that such batches will be refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import RelayProcess, sign, start_relay
from .conftest import enroll, new_client


@pytest.fixture(scope="module")
def small_budget(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    data: Path = tmp_path_factory.mktemp("budget") / "data"
    proc = start_relay(data, "--rate-limit-client", "20/second")
    try:
        yield proc
    finally:
        proc.stop()


def test_a_batch_over_the_client_budget_is_batch_too_large(small_budget: RelayProcess) -> None:
    relay = small_budget
    warning = relay.stderr_path.read_text()
    assert "admits at most 20 proofs per request" in warning and "max_batch_count 1000" in warning
    with httpx.Client(timeout=10) as http:
        auth = {"authorization": f"Bearer {new_client(relay, http)}", "content-type": "application/x-ndjson"}
        signer = enroll(relay, http)
        over = b"\n".join(sign(signer).to_json() for _ in range(21))
        for _ in range(3):  # the same answer however often it is retried
            r = http.post(f"{relay.url}/v1/proofs/verify-batch", content=over, headers=auth)
            assert r.status_code == 413, r.text
            assert r.json()["error"]["code"] == "batch_too_large"
            assert "20 at most" in r.json()["error"]["detail"]
            assert "retry-after" not in r.headers
        # nothing was charged: a batch of exactly the budget passes at once
        fits = b"\n".join(sign(signer).to_json() for _ in range(20))
        r = http.post(f"{relay.url}/v1/proofs/verify-batch", content=fits, headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["valid"], body["invalid"]) == (20, 0)
        assert all(v["valid"] for v in body["results"])


def test_no_warning_when_every_batch_fits(relay: RelayProcess) -> None:
    assert "admits at most" not in relay.stderr_path.read_text()

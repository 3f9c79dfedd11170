"""Hostile bodies: oversized, deep, binary, non-UTF-8, wrong type, slow. Clear 4xx, never 5xx."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import RelayHarness, sign

pytestmark = pytest.mark.anyio

VERIFY = "/v1/proofs/verify"
BATCH = "/v1/proofs/verify-batch"


async def _stream(chunks: int, size: int, delay: float = 0.0):
    for _ in range(chunks):
        if delay:
            await asyncio.sleep(delay)
        yield b"x" * size


async def test_oversized_single_declared_length(h: RelayHarness) -> None:
    client = await h.new_client()
    r = await h.verify(b" " * 65_537, client)
    assert r.status_code == 413 and r.json()["error"]["code"] == "input_too_large"
    ok = await h.verify(b" " * 65_536, client)  # at the limit: read, then rejected by the parser
    assert ok.status_code == 400 and ok.json()["error"]["code"] == "invalid_json"


async def test_oversized_streamed_body_is_cut_off(h: RelayHarness) -> None:
    """No Content-Length (chunked): reading stops at the first byte over the limit."""
    client = await h.new_client()
    consumed = 0

    async def body():
        nonlocal consumed
        for _ in range(1000):  # would be 16 MB
            consumed += 16384
            yield b"x" * 16384

    r = await h.http.post(VERIFY, content=body(), headers={**client, "content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "input_too_large"
    assert consumed <= 65_536 + 2 * 16384  # bounded memory: stopped right after the limit


async def test_oversized_batch(make_harness) -> None:
    async with make_harness(max_batch_bytes=100_000) as h:
        client = await h.new_client()
        r = await h.http.post(
            BATCH, content=b"{}\n" * 40_000, headers={**client, "content-type": "application/x-ndjson"}
        )
        assert r.status_code == 413 and r.json()["error"]["code"] == "input_too_large"


async def test_batch_default_limit_is_4_mib(h: RelayHarness) -> None:
    client = await h.new_client()
    r = await h.http.post(
        BATCH,
        content=b"x" * (4 * 1024 * 1024 + 1),
        headers={**client, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 413


async def test_oversized_line_in_batch_is_that_items_verdict(h: RelayHarness) -> None:
    client = await h.new_client()
    key, _ = await h.enroll("alice")
    big = b'{"pad":"' + b"x" * 70_000 + b'"}'
    r = await h.verify_batch([sign(key), big], client)
    assert [v["code"] for v in r.json()["results"]] == [None, "input_too_large"]


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        (None, 415),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/x-ndjson", 415),
        ("application/json; charset=utf-8", 400),  # accepted type; the body is garbage
        ("APPLICATION/JSON", 400),
    ],
)
async def test_content_type(h: RelayHarness, content_type: str | None, status: int) -> None:
    client = await h.new_client()
    headers = dict(client)
    if content_type:
        headers["content-type"] = content_type
    r = await h.http.post(VERIFY, content=b"garbage", headers=headers)
    assert r.status_code == status
    if status == 415:
        assert r.json()["error"]["code"] == "unsupported_media_type"
    r = await h.http.post(BATCH, content=b"{}", headers={**client, "content-type": "application/json"})
    assert r.status_code == 415


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[" * 100_000, "nesting_too_deep"),  # deep but within the size limit? no: 100 KB -> 413 first
        (b"[" * 60_000, "nesting_too_deep"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nesting_too_deep"),
        (bytes(range(256)) * 10, "invalid_utf8"),
        (b"\x00\x01\x02binary", "invalid_json"),
        ("\ufeff{}".encode(), "invalid_json"),  # BOM
        (b'{"context":"\\ud800"}', "lone_surrogate"),
    ],
)
async def test_hostile_proof_bodies(h: RelayHarness, body: bytes, code: str) -> None:
    client = await h.new_client()
    r = await h.verify(body, client)
    if len(body) > 65_536:
        assert r.status_code == 413
    else:
        assert r.status_code == 400 and r.json()["error"]["code"] == code


async def test_admin_bodies_are_strict(h: RelayHarness) -> None:
    for body in (
        b'{"name":"a","audience":"b","name":"c"}',
        b'{"name":NaN,"audience":"b"}',
        b"\xff",
        b'{"name":"\\ud800","audience":"b"}',
        b"[" * 50_000,
        b'{"name":"a","audience":"b","x":1}',
    ):
        r = await h.http.post(
            "/v1/admin/clients", content=body, headers={**h.admin, "content-type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", body[:40]


async def test_slow_body_times_out(make_harness) -> None:
    async with make_harness(body_timeout_s=0.3) as h:
        client = await h.new_client()
        r = await h.http.post(
            VERIFY, content=_stream(10, 10, delay=0.1), headers={**client, "content-type": "application/json"}
        )
        assert r.status_code == 408 and r.json()["error"]["code"] == "request_timeout"


async def test_malformed_content_length(h: RelayHarness) -> None:
    client = await h.new_client()
    # httpx would fix the header; call the ASGI app directly
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": VERIFY,
        "raw_path": VERIFY.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"-5"),
            (b"authorization", client["authorization"].encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("relay", 80),
    }
    await h.app(scope, receive, send)
    assert sent[0]["status"] == 400


@pytest.fixture(scope="module")
def garbage_target(tmp_path_factory):
    """One relay for all hypothesis examples (a fresh one per example would dominate the run time)."""

    from proof_messenger.relay.http import create_app
    from proof_messenger.relay.service import build_relay

    from .conftest import make_config

    relay = build_relay(make_config(tmp_path_factory.mktemp("garbage")), announce=None)
    _, api_key = relay.clients.create("fuzz", audience="payments-api", now_ms=relay.clock())
    yield create_app(relay=relay), {"authorization": f"Bearer {api_key}"}
    relay.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=2048),
        st.text(max_size=512).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
            max_leaves=30,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    batch=st.booleans(),
)
def test_garbage_never_5xx(garbage_target, body: bytes, batch: bool) -> None:
    import httpx

    app, auth = garbage_target

    async def run() -> None:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://relay.test"
        ) as http:
            path, ctype = (BATCH, "application/x-ndjson") if batch else (VERIFY, "application/json")
            r = await http.post(path, content=body, headers={**auth, "content-type": ctype})
            assert r.status_code in (200, 400, 413), r.text
            if r.status_code != 200:
                assert r.json()["error"]["code"]
            else:
                assert all(v["valid"] is False for v in r.json()["results"])

    asyncio.run(run())

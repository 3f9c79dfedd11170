"""The relay's native group writers against their Python references: decision-log
lines byte for byte, verdicts member for member (audit entries: tests/auditlog)."""

from __future__ import annotations

import io
import json
import logging

import proof_messenger as pm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proof_messenger._core import decision_lines, verdicts, verdicts_body
from proof_messenger.auditlog import Receipt
from proof_messenger.relay import jsonout
from proof_messenger.relay.decision import Decision
from proof_messenger.relay.events import DecisionEvents, _rfc3339

TEXT = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.text(st.sampled_from(list('"\\/\b\f\n\r\t\x00\x1f\x7f\u2028\u2029é€😀')), max_size=10),
)
MS = st.integers(min_value=0, max_value=253_402_300_799_999)  # 1970 .. 9999-12-31


def _decision(
    valid: bool, decided: int, texts: tuple[str | None, ...], ts: int | None, digest: bytes | None
) -> Decision:
    code, client, subject, key_id, enrollment, nonce, receipt = texts
    return Decision(
        valid,
        code,
        "detail",
        "bank" if subject is None else subject[::-1],
        decided,
        client,
        subject=subject,
        key_id=key_id,
        enrollment_id=enrollment,
        nonce=nonce,
        timestamp_ms=ts,
        context_digest=digest,
        receipt_id=receipt,
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            MS,
            st.tuples(*[TEXT] * 7),
            st.none() | st.integers(min_value=0, max_value=2**53 - 1),
            st.none() | st.binary(min_size=32, max_size=32),
        ),
        min_size=1,
        max_size=4,
    ),
    TEXT,
    TEXT,
)
def test_native_lines_equal_the_python_encoder(
    rows: list[tuple[bool, int, tuple[str | None, ...], int | None, bytes | None]],
    request_id: str | None,
    remote_addr: str | None,
) -> None:
    events = DecisionEvents()
    decisions = [_decision(*row) for row in rows]
    expected = [jsonout.dumps(events._event(d, request_id, remote_addr)) for d in decisions]
    assert events._lines(decisions, request_id, remote_addr) == expected
    assert [json.loads(line)["ts"] for line in expected] == [_rfc3339(d.decided_at_ms) for d in decisions]


@pytest.mark.parametrize("ms", [0, 999, 951_782_400_000, 1_709_164_800_123, 253_402_300_799_999])
def test_native_timestamps_cover_leap_days_and_the_year_9999(ms: int) -> None:
    (line,) = decision_lines([_decision(True, ms, (None,) * 7, None, None)], None, None)
    assert json.loads(line)["ts"] == _rfc3339(ms)


def test_values_the_native_writer_refuses_take_the_python_encoder() -> None:
    events = DecisionEvents()
    far = _decision(True, 253_402_300_800_000, (None,) * 7, None, None)  # year 10000
    big = _decision(True, 0, (None,) * 7, 2**60, None)  # beyond 2^53: printed as is
    for d in (far, big):
        with pytest.raises((ValueError, OverflowError)):
            decision_lines([d], None, None)
        assert events._lines([d], None, None) == [jsonout.dumps(events._event(d, None, None))]


def test_logged_contexts_take_the_python_encoder() -> None:
    buf = io.StringIO()
    logger = logging.getLogger("test.events.context")
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.StreamHandler(buf))
    d = Decision(True, None, None, "bank", 0, "cli_1", subject="alice", context={"amount": "5"})
    DecisionEvents(log_context=True, logger=logger).emit([d])
    assert json.loads(buf.getvalue())["context"] == {"amount": "5"}


CONTEXT = st.dictionaries(
    st.text(max_size=8),
    st.one_of(st.text(max_size=12), st.integers(-(2**53) + 1, 2**53 - 1), st.booleans(), st.none()),
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(
    st.booleans(),
    MS,
    st.tuples(*[TEXT] * 7),
    st.none() | st.integers(min_value=0, max_value=2**53 - 1),
    st.none() | st.binary(min_size=32, max_size=32),
    st.none() | CONTEXT,
    st.none() | st.tuples(TEXT.filter(bool), st.integers(0, 2**53 - 1), st.binary(min_size=32, max_size=32)),
)
def test_native_verdicts_equal_the_dict_verdict(
    valid: bool,
    decided: int,
    texts: tuple[str | None, ...],
    ts: int | None,
    digest: bytes | None,
    context: dict[str, object] | None,
    receipt: tuple[str, int, bytes] | None,
) -> None:
    d = _decision(valid, decided, texts, ts, digest)
    d.context = context
    if receipt is not None:
        origin, index, leaf = receipt
        d.receipt = Receipt(d.receipt_id or "rcpt_x_0", origin, index, leaf, b"{}")
    (native,) = verdicts([d])
    assert json.loads(native) == json.loads(jsonout.dumps(d.verdict(compact_receipt=True)))


def test_native_verdicts_carry_the_signed_canonical_context() -> None:
    key = pm.SigningKey.generate()
    context = {"to": "ACME", "amount": "50000.00", "subject": "alice", "n": 7}
    proof = pm.sign(context, key, audience="bank")
    res = pm.verify(proof, trusted_keys=key.verifying_key, audience="bank")
    d = Decision(True, None, None, "bank", 0, "cli_1", subject="alice", result=res)
    (native,) = verdicts([d])
    verdict = json.loads(native)
    assert verdict["context"] == context and d.context_value() == context
    assert pm.canonicalize(verdict["context"]) == res.canonical_context == pm.canonicalize(context)
    assert b'"context":' + res.canonical_context + b"," in native


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), MS, st.tuples(*[TEXT] * 7)), max_size=5))
def test_native_batch_body_joins_the_verdicts(rows: list[tuple[bool, int, tuple[str | None, ...]]]) -> None:
    decisions = [_decision(valid, decided, texts, None, None) for valid, decided, texts in rows]
    body = verdicts_body(decisions)
    n_valid = sum(d.valid for d in decisions)
    assert body == b'{"results":[' + b",".join(verdicts(decisions)) + b'],"valid":%d,"invalid":%d}' % (
        n_valid,
        len(decisions) - n_valid,
    )
    assert json.loads(body)["results"] == [
        json.loads(jsonout.dumps(d.verdict(compact_receipt=True))) for d in decisions
    ]

"""The native relay Decision: built from the core's results in one call
(``Decision.from_results``) exactly as the pipeline decided field by field
before, written to the audit log byte for byte as ``make_leaf(to_record(d))``,
and read and written from Python like a dataclass."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import proof_messenger as pm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proof_messenger._core import decision_entries
from proof_messenger.auditlog import Receipt
from proof_messenger.auditlog.entry import log_id_of, make_leaf
from proof_messenger.relay.audit import to_record
from proof_messenger.relay.decision import Decision

from .test_native_writers import MS, TEXT

NOW = pm.now_ms()
DETAILS = {"nonce_replayed": "this nonce was already accepted once", "other": "x"}


def _reference(
    res: pm.VerificationResult,
    owner: Any,
    refusal: str | None,
    enrolled: dict[str, list[Any]],
) -> Decision:
    """The pipeline's field-by-field construction before from_results (the reference)."""
    if res.valid:
        code, detail = refusal, DETAILS.get(refusal) if refusal else None
        enrollment = next((r.id for r in enrolled.get(res.subject or "", []) if r.key_id == res.key_id), None)
    else:
        code, detail, enrollment = res.code, res.detail, None
    ok = code is None
    return Decision(
        ok,
        code,
        detail,
        owner.audience,
        NOW,
        owner.id,
        subject=res.subject,
        key_id=res.key_id,
        enrollment_id=enrollment,
        nonce=res.nonce,
        timestamp_ms=res.timestamp_ms,
        result=res if ok else None,
        context_digest=res.context_digest,
        signed_digest=res.signed_digest,
        algorithm=res.algorithm,
    )


FIELDS = (
    "valid code detail audience decided_at_ms client_id subject key_id enrollment_id nonce "
    "timestamp_ms context_digest signed_digest receipt_id algorithm"
).split()


def _fields(d: Decision) -> dict[str, Any]:
    return {name: getattr(d, name) for name in FIELDS} | {"result": d.result is not None}


def _results() -> tuple[list[pm.VerificationResult], dict[str, list[Any]]]:
    alice, bob, mallory = (pm.SigningKey.generate() for _ in range(3))
    trusted = {"alice": [alice.verifying_key], "bob": [bob.verifying_key]}
    enrolled = {
        "alice": [SimpleNamespace(key_id=alice.verifying_key.key_id, id="key_alice")],
        "bob": [SimpleNamespace(key_id="someone-else", id="key_other")],  # no record for bob's key
    }
    at = {"timestamp_ms": NOW}  # (NOW is fixed at import: the proofs must not be younger)
    proofs = [
        pm.sign({"subject": "alice", "amount": "1"}, alice, audience="bank", **at),
        pm.sign({"subject": "bob", "amount": "2"}, bob, audience="bank", **at),
        pm.sign({"subject": "alice", "amount": "3"}, mallory, audience="bank", **at),  # key not enrolled
        pm.sign({"subject": "alice", "amount": "4"}, alice, audience="other", **at),  # wrong audience
        pm.sign({"subject": "alice", "amount": "5"}, alice, audience="bank", timestamp_ms=NOW - 10**7),
        pm.sign({"subject": "alice", "amount": "6"}, alice, audience="bank", **at),
    ]
    data = [p.to_json() for p in proofs] + [b'{"version": 1}']  # the last does not parse
    results = pm.verify_batch(data, audience="bank", resolver=lambda s: trusted.get(s, []), now_ms=NOW)
    return results, enrolled


def test_from_results_decides_as_the_field_by_field_reference() -> None:
    results, enrolled = _results()
    a, b = SimpleNamespace(audience="bank", id="cli_a"), SimpleNamespace(audience="bank", id="cli_b")
    owners = [a, a, b, a, b, b, a]
    refused = {5: "nonce_replayed"}  # the last valid proof lost its nonce
    made = Decision.from_results(
        results, owners, now_ms=NOW, refused=refused, details=DETAILS, enrolled=enrolled
    )
    expected = [
        _reference(r, o, refused.get(k), enrolled)
        for k, (r, o) in enumerate(zip(results, owners, strict=True))
    ]
    assert [_fields(d) for d in made] == [_fields(d) for d in expected]
    # and the cases are the intended ones
    assert [d.valid for d in made] == [True, True, False, False, False, False, False]
    assert [d.code for d in made][2:] == [
        "untrusted_key",
        "audience_mismatch",
        "proof_expired",
        "nonce_replayed",
        "missing_field",
    ]
    assert made[0].enrollment_id == "key_alice" and made[1].enrollment_id is None
    assert made[5].detail == DETAILS["nonce_replayed"] and made[5].enrollment_id == "key_alice"
    assert made[0].client_id == "cli_a" and made[2].client_id == "cli_b"
    assert made[0].context_value() == {"subject": "alice", "amount": "1"}
    assert made[5].result is None and made[5].context_value() is None


def test_from_results_refuses_mismatched_lengths() -> None:
    results, enrolled = _results()
    with pytest.raises(TypeError):
        Decision.from_results(results, [], now_ms=NOW, refused={}, details={}, enrolled=enrolled)


def test_attach_receipts_sets_both_fields() -> None:
    ds = [Decision(True, None, None, "bank", 0, "cli"), Decision(False, "x", None, "bank", 0, None)]
    receipts = [Receipt(f"rcpt_ab_{k}", "o", k, b"h" * 32, b"{}") for k in range(2)]
    Decision.attach_receipts(ds, receipts)
    assert [(d.receipt_id, d.receipt) for d in ds] == [(r.receipt_id, r) for r in receipts]
    with pytest.raises(TypeError):
        Decision.attach_receipts(ds, receipts[:1])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            MS,
            st.tuples(*[TEXT] * 5),
            st.none() | st.binary(min_size=32, max_size=32),
            st.sampled_from([None, "Ed25519", "WebAuthn"]),
        ),
        min_size=1,
        max_size=5,
    ),
    st.integers(min_value=0, max_value=2**53 - 10),
)
def test_native_decision_entries_equal_make_leaf_of_to_record(
    rows: list[tuple[bool, int, tuple[str | None, ...], bytes | None, str | None]], first: int
) -> None:
    decisions = []
    for valid, decided, (code, client, subject, key_id, audience), signed, algorithm in rows:
        decisions.append(
            Decision(
                valid,
                code,
                "detail",
                audience or "bank",
                decided,
                client,
                subject=subject,
                key_id=key_id,
                signed_digest=signed,
                algorithm=algorithm,
            )
        )
    log_id = log_id_of("example.com/log")
    expected = [make_leaf(to_record(d), index=first + k, log_id=log_id) for k, d in enumerate(decisions)]
    assert decision_entries(decisions, first, log_id) == expected


def test_decision_entries_refuse_unsafe_integers() -> None:
    # the sink then writes with make_leaf, which names the problem
    with pytest.raises(ValueError):
        decision_entries([Decision(True, None, None, "bank", 2**53, None)], 0, "00")


def test_reads_and_writes_like_a_dataclass() -> None:
    d = Decision(valid=True, code=None, detail=None, audience="bank", decided_at_ms=5, client_id="cli")
    assert (d.subject, d.context, d.receipt, d.result, d.context_json()) == (None, None, None, None, None)
    d.subject, d.context_digest, d.context = "alice", b"\x01" * 32, {"amount": "5", "n": 1}
    d.valid, d.code = False, "expired"
    assert (d.subject, d.valid, d.code) == ("alice", False, "expired")
    assert d.context_digest_b64 == "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
    assert d.context_json() == b'{"amount":"5","n":1}'
    verdict = d.verdict()
    assert list(verdict) == [
        "valid",
        "code",
        "detail",
        "subject",
        "keyId",
        "enrollmentId",
        "audience",
        "nonce",
        "timestamp",
        "context",
        "contextDigest",
        "receiptId",
        "receipt",
    ]
    assert verdict["context"] == {"amount": "5", "n": 1} and verdict["receipt"] is None
    assert json.loads(json.dumps(verdict))["contextDigest"] == d.context_digest_b64
    assert "expired" in repr(d) and "alice" in repr(d)
    with pytest.raises(TypeError):
        d.valid = "yes"  # type: ignore[assignment]
    with pytest.raises(TypeError):
        d.context = ["not", "a", "dict"]  # type: ignore[assignment]

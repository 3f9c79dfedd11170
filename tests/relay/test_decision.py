"""The relay's decisions (rust/relay/src/decision.rs through ``_core.relay``): made from the
core's results in one call (``decide``) exactly as the field-by-field rule says, refusals
before verification (``refuse``), receipts attached and completed, and read-only from Python."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import proof_messenger as pm
import pytest
from proof_messenger._core import relay as native
from proof_messenger._core.relay import Decision
from proof_messenger.relay import errors

NOW = pm.now_ms()
FIELDS = (
    "valid code detail audience decided_at_ms client_id subject key_id enrollment_id nonce "
    "timestamp_ms context_digest signed_digest receipt_id algorithm context"
).split()
DETAIL = {
    "nonce_replayed": "this nonce was already accepted once",
    "counter_not_increasing": (
        "the authenticator's signature counter did not increase (cloned authenticator or replay)"
    ),
}


def _reference(
    res: pm.VerificationResult, owner: Any, refusal: str | None, enrolled: dict[str, list[Any]]
) -> dict[str, Any]:
    """docs/RELAY.md's rule, field by field: the core's code for a rejected proof; a refusal
    (replay, counter) overrides an accepted one and keeps its enrollment; only an accepted
    proof carries its context."""
    if res.proof is None:
        return {
            "valid": False, "code": res.code, "detail": res.detail, "audience": owner.audience,
            "decided_at_ms": NOW, "client_id": owner.id, "subject": None, "key_id": None,
            "enrollment_id": None, "nonce": None, "timestamp_ms": None, "context_digest": None,
            "signed_digest": None, "receipt_id": None, "algorithm": None, "context": None,
        }  # fmt: skip
    if res.valid:
        code, detail = refusal, DETAIL.get(refusal) if refusal else None
        enrollment = next((r.id for r in enrolled.get(res.subject or "", []) if r.key_id == res.key_id), None)
    else:
        code, detail, enrollment = res.code, res.detail, None
    ok = code is None
    return {
        "valid": ok, "code": code, "detail": detail, "audience": owner.audience, "decided_at_ms": NOW,
        "client_id": owner.id, "subject": res.subject, "key_id": res.key_id, "enrollment_id": enrollment,
        "nonce": res.nonce, "timestamp_ms": res.timestamp_ms, "context_digest": res.context_digest,
        "signed_digest": res.signed_digest, "receipt_id": None, "algorithm": res.algorithm,
        "context": res.context if ok else None,
    }  # fmt: skip


def _fields(d: Decision) -> dict[str, Any]:
    return {name: getattr(d, name) for name in FIELDS}


def _results() -> tuple[list[pm.VerificationResult], dict[str, list[Any]]]:
    alice, bob, mallory = (pm.SigningKey.generate() for _ in range(3))
    trusted = {"alice": [alice.verifying_key], "bob": [bob.verifying_key]}
    enrolled = {
        "alice": [SimpleNamespace(key_id=alice.verifying_key.key_id, id="key_alice")],
        "bob": [SimpleNamespace(key_id="someone-else", id="key_other")],  # no record for bob's key
    }
    at = {"timestamp_ms": NOW}
    proofs = [
        pm.sign({"subject": "alice", "amount": "1"}, alice, audience="bank", **at),
        pm.sign({"subject": "bob", "amount": "2"}, bob, audience="bank", **at),
        pm.sign({"subject": "alice", "amount": "3"}, mallory, audience="bank", **at),  # key not enrolled
        pm.sign({"subject": "alice", "amount": "4"}, alice, audience="other", **at),  # wrong audience
        pm.sign({"subject": "alice", "amount": "5"}, alice, audience="bank", timestamp_ms=NOW - 10**7),
        pm.sign({"subject": "alice", "amount": "6"}, alice, audience="bank", **at),
        pm.sign({"subject": "alice", "amount": "7"}, alice, audience="bank", **at),
    ]
    data = [p.to_json() for p in proofs] + [b'{"version": 1}']  # the last does not parse
    results = pm.verify_batch(data, audience="bank", resolver=lambda s: trusted.get(s, []), now_ms=NOW)
    return results, enrolled


def test_decide_follows_the_field_by_field_rule() -> None:
    results, enrolled = _results()
    a, b = SimpleNamespace(audience="bank", id="cli_a"), SimpleNamespace(audience="bank", id="cli_b")
    owner_of = [0, 0, 1, 0, 1, 1, 0, 0]
    refused = {5: "nonce_replayed", 6: "counter_not_increasing"}
    made = native.decide(results, [a, b], owner_of, now_ms=NOW, refused=refused, enrolled=enrolled)
    owners = [a, b]
    expected = [
        _reference(r, owners[o], refused.get(k), enrolled)
        for k, (r, o) in enumerate(zip(results, owner_of, strict=True))
    ]
    assert [_fields(d) for d in made] == expected
    # and the cases are the intended ones
    assert [d.valid for d in made] == [True, True, False, False, False, False, False, False]
    assert [d.code for d in made][2:] == [
        "untrusted_key",
        "audience_mismatch",
        "proof_expired",
        "nonce_replayed",
        "counter_not_increasing",
        "missing_field",
    ]
    assert made[0].enrollment_id == "key_alice" and made[1].enrollment_id is None
    assert made[5].enrollment_id == "key_alice" and made[5].context is None
    assert made[0].context == {"subject": "alice", "amount": "1"}
    assert made[0].context_json() == b'{"amount":"1","subject":"alice"}'


def test_decide_refuses_inconsistent_input() -> None:
    results, enrolled = _results()
    owner = SimpleNamespace(audience="bank", id="cli")
    with pytest.raises(ValueError, match="owner_of"):
        native.decide(results, [owner], [0], now_ms=NOW, refused={}, enrolled=enrolled)
    with pytest.raises(ValueError, match="out of range"):
        native.decide(results, [owner], [1] * len(results), now_ms=NOW, refused={}, enrolled=enrolled)
    with pytest.raises(ValueError, match="refusal code"):
        native.decide(
            results, [owner], [0] * len(results), now_ms=NOW, refused={0: "bad_signature"}, enrolled=enrolled
        )
    with pytest.raises((TypeError, AttributeError)):
        native.decide(results, [object()], [0] * len(results), now_ms=NOW, refused={}, enrolled=enrolled)


def test_refuse_before_verification() -> None:
    owner = SimpleNamespace(audience="bank", id="cli")
    d = native.refuse(owner, "invalid_json", "at byte 3", now_ms=7)
    assert (d.valid, d.code, d.detail, d.audience, d.client_id, d.decided_at_ms) == (
        False, "invalid_json", "at byte 3", "bank", "cli", 7,
    )  # fmt: skip
    assert (d.subject, d.key_id, d.nonce, d.algorithm, d.context) == (None, None, None, None, None)
    key = pm.SigningKey.generate()
    proof = pm.sign({"subject": "alice"}, key, audience="bank")
    d = native.refuse(owner, errors.RATE_LIMITED, proof=proof, now_ms=7)
    assert (d.code, d.detail) == ("rate_limited", "too many proofs for this subject")
    assert (d.subject, d.key_id, d.nonce, d.algorithm) == ("alice", proof.key_id, proof.nonce, "Ed25519")
    assert d.signed_digest == proof.signed_digest and d.context is None and not d.valid
    with pytest.raises(ValueError):
        native.refuse(owner, "invalid_json", now_ms=7)  # a core code has no relay detail


def test_receipts_are_attached_and_completed() -> None:
    ds = [Decision(True, None, None, "bank", 0, "cli"), Decision(False, "x", None, "bank", 0, None)]
    native.attach_receipts(ds, "ab", "origin", 41, [b"h" * 32, b"i" * 32], [b"{}", b"[]"])
    assert [(d.receipt_id, d.receipt_index, d.receipt_checkpoint) for d in ds] == [
        ("rcpt_ab_41", 41, None),
        ("rcpt_ab_42", 42, None),
    ]
    native.complete_receipts(ds, "note", 42)  # covers entry 41 only
    assert [d.receipt_checkpoint for d in ds] == ["note", None]
    with pytest.raises(ValueError, match="leaf_hashes"):
        native.attach_receipts(ds, "ab", "o", 0, [b"h" * 32], [b"{}", b"[]"])
    with pytest.raises(ValueError, match="proofs"):
        native.complete_receipts(ds, "note", 99, [None])


def test_refusal_codes_are_the_relays() -> None:
    assert set(native.REFUSAL_CODES) <= set(pm.ERROR_CODES) | set(errors.SERVICE_CODES)
    assert {errors.NONCE_REPLAYED, errors.CHALLENGE_UNKNOWN, errors.CHALLENGE_BINDING_MISMATCH} <= set(
        native.REFUSAL_CODES
    )


def test_decisions_are_read_only() -> None:
    d = Decision(True, None, None, "bank", 5, "cli", subject="alice", context={"amount": "5", "n": 1})
    assert d.context_json() == b'{"amount":"5","n":1}' and d.context == {"amount": "5", "n": 1}
    for name in FIELDS:
        with pytest.raises(AttributeError):
            setattr(d, name, None)
    assert "alice" in repr(d) and "bank" in repr(d)
    with pytest.raises(pm.ProofMessengerError) as bad:
        Decision(True, None, None, "bank", 5, None, context={"x": float("nan")})
    assert bad.value.code == "non_finite_number"

"""The relay's one writer per record (rust/relay, through ``proof_messenger._core.relay``)
against tests/vectors/relay/records.json and against the reference writers of
tests/vectors/relay/generate.py (``json`` and the ``rfc8785`` package), byte for byte:
audit entries, decision-log lines (with and without contexts), verdicts with compact and
full receipts, verify-batch bodies."""

from __future__ import annotations

import base64
import importlib.util
import json
from pathlib import Path
from typing import Any

import proof_messenger as pm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proof_messenger._core import relay as native
from proof_messenger._core.relay import Decision
from proof_messenger.auditlog import AuditRecord, Keyring
from proof_messenger.auditlog.crypt import generate_key
from proof_messenger.auditlog.entry import log_id_of, make_leaf, unseal

HERE = Path(__file__).resolve().parents[1] / "vectors" / "relay"
_spec = importlib.util.spec_from_file_location("relay_vectors", HERE / "generate.py")
assert _spec is not None and _spec.loader is not None
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)
VECTORS = json.loads((HERE / "records.json").read_text(encoding="utf-8"))
CASES = VECTORS["cases"]


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def native_decision(d: dict[str, Any]) -> Decision:
    """The vector's decision as a native Decision, its receipt attached as the audit sink does."""
    out = Decision(
        d["valid"],
        d["code"],
        d["detail"],
        d["audience"],
        d["decided_at_ms"],
        d["client_id"],
        subject=d["subject"],
        key_id=d["key_id"],
        enrollment_id=d["enrollment_id"],
        nonce=d["nonce"],
        timestamp_ms=d["timestamp_ms"],
        context=d["context"],
        context_digest=None if d["context_digest"] is None else b64url_decode(d["context_digest"]),
        signed_digest=None if d["signed_digest"] is None else bytes.fromhex(d["signed_digest"]),
        algorithm=d["algorithm"],
    )
    r = d["receipt"]
    if r is not None:
        log_id = r["receiptId"].split("_")[1]
        native.attach_receipts(
            [out], log_id, r["origin"], r["index"], [base64.b64decode(r["leafHash"])], [r["entry"].encode()]
        )
        assert out.receipt_id == r["receiptId"]
        if r["checkpoint"] is not None:
            proof = (
                None if r["inclusionProof"] is None else [base64.b64decode(h) for h in r["inclusionProof"]]
            )
            native.complete_receipts([out], r["checkpoint"], r["index"] + 1, [proof])
    return out


def test_the_vectors_are_what_the_reference_writers_write() -> None:
    assert VECTORS == ref.document()
    assert len(CASES) == 30 and len(VECTORS["batches"]) == 3


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_every_record_of_a_vector(case: dict[str, Any]) -> None:
    d = native_decision(case["decision"])
    rid, addr = case["request_id"], case["remote_addr"]
    assert native.audit_entries([d], case["index"], case["log_id"])[0].decode() == case["audit_entry"]
    assert native.decision_lines([d], rid, addr)[0].decode() == case["decision_line"]
    lines = native.decision_lines([d], rid, addr, with_context=True)
    assert lines[0].decode() == case["decision_line_with_context"]
    assert native.verdict(d).decode() == case["verdict_compact"]
    assert native.verdict(d, full_receipt=True).decode() == case["verdict_full"]


def test_batch_bodies_of_the_vectors() -> None:
    by_name = {c["name"]: c for c in CASES}
    for batch in VECTORS["batches"]:
        ds = [native_decision(by_name[n]["decision"]) for n in batch["cases"]]
        assert native.batch_body(ds).decode() == batch["body_compact"]
        assert native.batch_body(ds, full_receipts=True).decode() == batch["body_full"]


# --- any decision: the native writers equal the reference writers -----------------------------

TEXT = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.text(st.sampled_from(list('"\\/\b\f\n\r\t\x00\x1f\x7f\u2028\u2029é€😀')), max_size=10),
)
MS = st.integers(min_value=0, max_value=253_402_300_799_999)  # 1970 .. 9999-12-31
JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
)
CONTEXT = st.dictionaries(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=6),
    st.recursive(
        JSON_LEAF,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.text(st.characters(exclude_categories=("Cs",)), max_size=3), inner, max_size=3
            )
        ),
        max_leaves=6,
    ),
    max_size=4,
)


@st.composite
def decisions(draw: st.DrawFn) -> dict[str, Any]:
    valid = draw(st.booleans())
    code, detail, client, subject, key_id, enrollment, nonce = draw(st.tuples(*[TEXT] * 7))
    context = draw(CONTEXT) if valid and draw(st.booleans()) else None
    d = ref._decision(
        valid=valid,
        code=None if valid else code,
        detail=None if valid else detail,
        audience=draw(st.text(st.characters(exclude_categories=("Cs",)), max_size=20)),
        decided_at_ms=draw(MS),
        client_id=client,
        subject=subject,
        key_id=key_id,
        enrollment_id=enrollment,
        nonce=nonce,
        timestamp_ms=draw(st.none() | st.integers(min_value=0, max_value=2**53 - 1)),
        context=context,
        signed_digest=draw(st.none() | st.binary(min_size=32, max_size=32).map(bytes.hex)),
        algorithm=draw(st.sampled_from([None, "Ed25519", "WebAuthn"])),
    )
    index = draw(st.integers(min_value=0, max_value=2**53 - 1))
    entry = ref.audit_entry(d, index, ref.LOG_ID)
    form = draw(st.sampled_from(["none", "compact", "full"]))
    if form == "none":
        d["receipt"] = None
    else:
        d["receipt"] = ref._receipt(
            index,
            entry,
            checkpoint="origin\n1\nAAAA\n" if form == "full" else None,
            proof=draw(st.integers(0, 3)) if form == "full" else None,
        )
    return d


@settings(max_examples=300, deadline=None)
@given(st.lists(decisions(), min_size=1, max_size=4), TEXT, TEXT)
def test_native_records_equal_the_reference_writers(
    ds: list[dict[str, Any]], request_id: str | None, remote_addr: str | None
) -> None:
    made = [native_decision(d) for d in ds]
    for d, n in zip(ds, made, strict=True):
        index = 0 if d["receipt"] is None else d["receipt"]["index"]
        assert native.audit_entries([n], index, ref.LOG_ID)[0] == ref.audit_entry(d, index, ref.LOG_ID)
        for with_context in (False, True):
            line = native.decision_lines([n], request_id, remote_addr, with_context=with_context)[0]
            assert line == ref.decision_line(d, request_id, remote_addr, context=with_context)
        for full in (False, True):
            assert native.verdict(n, full_receipt=full) == ref.verdict(d, full=full)
    assert native.batch_body(made) == ref.batch_body(ds, full=False)
    assert native.batch_body(made, full_receipts=True) == ref.batch_body(ds, full=True)


# --- the audit log's own records (AuditRecord): the same entry writer -----------------------


@settings(max_examples=300, deadline=None)
@given(
    time_ms=st.integers(min_value=0, max_value=2**53 - 1),
    decision=st.sampled_from(["accepted", "rejected"]),
    texts=st.tuples(*[TEXT] * 7),
    index=st.integers(min_value=0, max_value=2**53 - 1),
)
def test_make_leaf_is_rfc8785(time_ms: int, decision: str, texts: tuple[str | None, ...], index: int) -> None:
    rec = AuditRecord(time_ms, decision, *texts)  # type: ignore[arg-type]
    leaf = make_leaf(rec, index=index, log_id=log_id_of("example.com/log"))
    assert leaf == ref.rfc8785.dumps(json.loads(leaf))
    entry = json.loads(leaf)
    assert (entry["time"], entry["decision"], entry["index"], entry["v"]) == (time_ms, decision, index, 1)
    assert [
        entry[k] for k in ("reason", "audience", "client", "subject", "keyId", "algorithm", "signedDigest")
    ] == list(texts)


def test_make_leaf_refuses_what_json_cannot_carry_exactly() -> None:
    for rec in (
        AuditRecord(time_ms=2**53, decision="accepted", reason=None, audience="bank"),
        AuditRecord(time_ms=-(2**53), decision="accepted", reason=None, audience="bank"),
    ):
        with pytest.raises(ValueError, match="2\\^53"):
            make_leaf(rec, index=0, log_id="00")
    with pytest.raises(ValueError, match="accepted"):
        make_leaf(AuditRecord(time_ms=1, decision="maybe", reason=None, audience="b"), index=0, log_id="00")  # type: ignore[arg-type]


def test_sealed_entries_stay_canonical_and_open() -> None:
    keyring = Keyring.parse(generate_key())
    rec = AuditRecord(
        time_ms=1, decision="accepted", reason=None, audience="bank", context={"n": 5, "a": "x"}
    )
    leaf = make_leaf(rec, index=3, log_id="ab", keyring=keyring)
    entry = json.loads(leaf)
    assert leaf == pm.canonicalize(entry)
    assert unseal(entry, keyring) == {"a": "x", "n": 5}
    public = {k: v for k, v in entry.items() if k != "sealed"}
    assert pm.canonicalize(public) == make_leaf(rec._replace(context=None), index=3, log_id="ab")


def test_the_writers_refuse_bad_input_without_writing() -> None:
    d = Decision(True, None, None, "bank", 2**53, None)
    with pytest.raises(ValueError, match="2\\^53"):
        native.audit_entries([d], 0, "00")
    with pytest.raises(ValueError, match="1970"):
        native.decision_lines([d], None, None)
    with pytest.raises(ValueError, match="sealed"):
        native.audit_entries([d, d], 0, "00", [{"alg": "A256GCM", "kid": "k", "nonce": "n", "ct": "c"}])
    bad_entry = Decision(True, None, None, "bank", 0, None)
    native.attach_receipts([bad_entry], "00", "o", 0, [b"h" * 32], [b"\xff"])
    with pytest.raises(ValueError, match="UTF-8"):
        native.verdict(bad_entry, full_receipt=True)
    assert native.verdict(bad_entry).startswith(b'{"valid":true')

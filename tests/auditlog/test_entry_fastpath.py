"""make_leaf writes entries with a fast encoder; it must equal RFC 8785 byte for byte."""

from __future__ import annotations

import json

import proof_messenger as pm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proof_messenger._core import audit_entries
from proof_messenger.auditlog import AuditRecord, Keyring
from proof_messenger.auditlog.crypt import generate_key
from proof_messenger.auditlog.entry import log_id_of, make_leaf, unseal

# Any Unicode text a proof can carry (no lone surrogates: the core refuses them),
# with control characters, quotes, backslashes, U+2028 and astral characters weighted in.
TEXT = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    st.text(st.sampled_from(list('"\\/\b\f\n\r\t\x00\x1f\x7f\u2028\u2029é€😀')), max_size=10),
)


@settings(max_examples=400, deadline=None)
@given(
    time_ms=st.integers(min_value=0, max_value=2**53 - 1),
    decision=st.sampled_from(["accepted", "rejected"]),
    texts=st.tuples(*[TEXT] * 7),
    index=st.integers(min_value=0, max_value=2**53 - 1),
)
def test_entry_bytes_are_rfc8785(
    time_ms: int, decision: str, texts: tuple[str | None, ...], index: int
) -> None:
    rec = AuditRecord(time_ms, decision, *texts)  # type: ignore[arg-type]
    leaf = make_leaf(rec, index=index, log_id=log_id_of("example.com/log"))
    assert leaf == pm.canonicalize(json.loads(leaf))


def test_unsafe_integers_take_the_canonicalizer() -> None:
    """Beyond 2**53 the fast encoder would print digits RFC 8785 does not: the core decides."""
    rec = AuditRecord(time_ms=2**60 + 1, decision="accepted", reason=None, audience="bank")
    with pytest.raises(pm.ProofMessengerError, match="inexact_number"):
        make_leaf(rec, index=0, log_id="00")


def test_sealed_entries_stay_canonical_and_open() -> None:
    keyring = Keyring.parse(generate_key())
    rec = AuditRecord(time_ms=1, decision="accepted", reason=None, audience="bank", context={"amount": "5"})
    leaf = make_leaf(rec, index=3, log_id="ab", keyring=keyring)
    entry = json.loads(leaf)
    assert leaf == pm.canonicalize(entry) and list(entry) == sorted(entry)
    assert unseal(entry, keyring) == {"amount": "5"}


@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb"])
def test_lone_surrogates_are_refused_as_before(bad: str) -> None:
    with pytest.raises(pm.ProofMessengerError):
        make_leaf(
            AuditRecord(time_ms=1, decision="accepted", reason=None, audience=bad), index=0, log_id="00"
        )


# --- the native group writer (audit_entries) against make_leaf ----------------------------


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2**53 - 1),
            st.sampled_from(["accepted", "rejected"]),
            st.tuples(*[TEXT] * 7),
        ),
        min_size=1,
        max_size=5,
    ),
    first=st.integers(min_value=0, max_value=2**53 - 10),
)
def test_native_entries_equal_make_leaf(
    rows: list[tuple[int, str, tuple[str | None, ...]]], first: int
) -> None:
    records = [AuditRecord(t, d, *texts) for t, d, texts in rows]  # type: ignore[arg-type]
    log_id = log_id_of("example.com/log")
    expected = [make_leaf(r, index=first + k, log_id=log_id) for k, r in enumerate(records)]
    assert audit_entries(records, first, log_id) == expected


@pytest.mark.parametrize(
    "record",
    [
        AuditRecord(time_ms=2**53, decision="accepted", reason=None, audience="bank"),  # unsafe integer
        AuditRecord(time_ms=1, decision="accepted", reason=None, audience="\ud800"),  # lone surrogate
        AuditRecord(time_ms=1, decision="maybe", reason=None, audience="bank"),  # not a decision
        AuditRecord(time_ms=1, decision="accepted", reason=None, audience="bank", context={"a": "1"}),
    ],
)
def test_native_entries_refuse_what_make_leaf_must_decide(record: AuditRecord) -> None:
    # The log then writes the group with make_leaf, which seals, or names the problem.
    with pytest.raises((ValueError, TypeError, OverflowError)):
        audit_entries([record], 0, "00")

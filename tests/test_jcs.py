"""RFC 8785 reference data (tests/vectors/jcs, cyberphone/json-canonicalization).

Each input/X.json canonicalises to exactly output/X.json, through the strict
text parser (pm.canonicalize_json) and through Python values
(pm.canonicalize(json.loads(...))).

One documented exception on the text path: input/values.json writes
333333333.33333329, whose nearest double prints as 333333333.3333333, so
PROTOCOL section 3 rejects the literal (inexact_number). Python's json
parser has already rounded it to that double, so the value path matches the
expected output exactly; and the text with the literal written as the
double's shortest form matches too.
"""

from __future__ import annotations

import json

import proof_messenger as pm
import pytest
import rfc8785
import vectors_util as vu

PAIRS = vu.jcs_pairs()
INEXACT_LITERAL = b"333333333.33333329"


def test_all_reference_files_present() -> None:
    assert [name for name, _, _ in PAIRS] == ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize(("name", "source", "output"), PAIRS, ids=[p[0] for p in PAIRS])
def test_canonicalize_json(name: str, source: bytes, output: bytes) -> None:
    if INEXACT_LITERAL in source:
        with pytest.raises(pm.ProofMessengerError) as e:
            pm.canonicalize_json(source)
        assert e.value.code == "inexact_number"
        source = source.replace(INEXACT_LITERAL, b"333333333.3333333")
    assert pm.canonicalize_json(source) == output
    assert pm.canonicalize_json(source.decode("utf-8")) == output


@pytest.mark.parametrize(("name", "source", "output"), PAIRS, ids=[p[0] for p in PAIRS])
def test_canonicalize_python_values(name: str, source: bytes, output: bytes) -> None:
    value = json.loads(source)
    assert pm.canonicalize(value) == output
    assert rfc8785.dumps(value) == output  # the test-only oracle agrees with the reference data


@pytest.mark.parametrize(("name", "source", "output"), PAIRS, ids=[p[0] for p in PAIRS])
def test_output_is_a_fixed_point(name: str, source: bytes, output: bytes) -> None:
    assert pm.canonicalize_json(output) == output
    assert pm.canonicalize(json.loads(output)) == output

"""The error codes cannot drift: Python Literal == extension == PROTOCOL.md section 7."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import get_args

import proof_messenger as pm
import proof_messenger._core as core
import vectors_util as vu
from proof_messenger.errors import ErrorCode

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"


def protocol_codes() -> tuple[str, ...]:
    """The first column of the table in section 7 of docs/PROTOCOL.md, in order."""
    text = PROTOCOL.read_text(encoding="utf-8")
    match = re.search(r"^## 7\. Error codes\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "section 7 not found"
    rows = re.findall(r"^\|\s*`([a-z0-9_]+)`\s*\|", match.group(1), re.M)
    assert rows, "no table rows in section 7"
    return tuple(rows)


def test_python_codes_equal_extension_codes() -> None:
    assert pm.ERROR_CODES == tuple(core.ERROR_CODES)


def test_python_codes_equal_protocol_table() -> None:
    assert pm.ERROR_CODES == protocol_codes()


def test_literal_and_tuple_agree() -> None:
    assert get_args(ErrorCode) == pm.ERROR_CODES
    assert len(set(pm.ERROR_CODES)) == len(pm.ERROR_CODES)


def test_v1_codes_keep_their_order_at_the_front() -> None:
    """The 24 codes of protocol v1 come first, in section 7 order; later versions only append."""
    assert pm.ERROR_CODES[: len(vu.V1_CODES)] == vu.V1_CODES


def test_codes_are_snake_case() -> None:
    assert all(re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", code) for code in pm.ERROR_CODES)


def test_error_class() -> None:
    error = pm.ProofMessengerError("bad_signature", "detail text")
    assert issubclass(pm.ProofMessengerError, ValueError)  # callers may catch ValueError
    assert (error.code, error.detail) == ("bad_signature", "detail text")
    assert str(error) == "bad_signature: detail text"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is pm.ProofMessengerError
    assert (again.code, again.detail) == (error.code, error.detail)


def test_extension_raises_the_python_class() -> None:
    try:
        pm.canonicalize_json(b"[1,]")
    except pm.ProofMessengerError as e:
        assert type(e) is pm.ProofMessengerError
        assert e.code == "invalid_json" and e.detail
    else:
        raise AssertionError("no error")

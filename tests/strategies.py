"""Hypothesis strategies shared by the property and bad-input tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

MAX_SAFE = 2**53 - 1

#: Characters that exercise escaping and UTF-16 ordering.
SPECIAL_CHARS = [
    "\x00",
    "\x08",
    "\x1f",
    '"',
    "\\",
    "/",
    "\x7f",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffd",
    "\ue000",
    "\U00010000",
    "\U0001f600",
    "\U0010ffff",
    "é",
    "日",
]

#: Doubles whose printing is a known trap (exponent switch, subnormals, -0, 2^53 neighbourhood).
SPECIAL_FLOATS = [
    0.0,
    -0.0,
    1e21,
    1e20,
    1e-7,
    1e-6,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    0.1,
    0.3,
    1 / 3,
    123456789012345680000.0,
    9007199254740992.0,
    -1.5e-7,
    4.35,
    0.000001,
]

text = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.lists(st.sampled_from(SPECIAL_CHARS), max_size=6).map("".join),
)
safe_ints = st.integers(-MAX_SAFE, MAX_SAFE)
finite_floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(SPECIAL_FLOATS))
scalars = st.one_of(st.none(), st.booleans(), safe_ints, finite_floats, text)

json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=16,
)


@st.composite
def contexts(draw: st.DrawFn, subject: bool | None = None) -> dict[str, Any]:
    """A context object; `subject` forces a valid subject on (True) or off (False)."""
    context = draw(st.dictionaries(text.filter(lambda k: k != "subject"), json_values, max_size=6))
    with_subject = draw(st.booleans()) if subject is None else subject
    if with_subject:
        context["subject"] = draw(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20))
    return context


audiences = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40)
timestamps = st.integers(0, MAX_SAFE)
nonce_bytes = st.binary(min_size=16, max_size=64)

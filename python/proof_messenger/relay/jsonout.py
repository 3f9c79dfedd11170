"""JSON output for the hot path: verdicts and decision-log lines.

The relay answers every proof with a JSON verdict and writes one JSON line per
decision, so encoding is a visible share of its CPU time. ``orjson`` (a
dependency of the ``relay`` extra) encodes a verdict about ten times faster
than the standard library (0.9 µs vs 10.9 µs measured, docs/PERFORMANCE.md);
its output for these objects is byte-identical to
``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``. Values it
does not take (integers beyond 64 bits in a context, say) fall back to the
standard encoder, so the output never depends on which one ran.

>>> dumps({"valid": True, "code": None, "n": 2**70})
b'{"valid":true,"code":null,"n":1180591620717411303424}'
"""

from __future__ import annotations

import json
from typing import Any

_stdlib = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency of the relay extra
    orjson = None  # type: ignore[assignment]


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, no NaN or Infinity (the core never yields them)."""
    if orjson is not None:
        try:
            return orjson.dumps(obj)
        except TypeError:  # orjson.JSONEncodeError: big integers, non-str keys, ...
            pass
    return _stdlib(obj).encode("utf-8", "backslashreplace")

"""The HTTP layer's one JSON encoder: error bodies and the admin API's answers.

Verdicts are not encoded here: the relay crate writes them (rust/relay/src/verdict.rs).
``orjson`` (a dependency of the ``relay`` extra) is used where it takes the
value; its output for these objects is byte-identical to
``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``, the encoder
used for what it does not take (integers beyond 64 bits, say), so the output
never depends on which one ran.

>>> dumps({"valid": True, "code": None, "n": 2**70})
b'{"valid":true,"code":null,"n":1180591620717411303424}'
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

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


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``obj`` as an ``application/json`` response."""
    return Response(dumps(obj), status_code=status, media_type="application/json", headers=headers)

"""Reading request bodies with hard limits, before anything parses them.

The size limit is enforced while the body streams in: a declared
Content-Length above the limit is refused without reading, and a chunked or
lying body is cut off at the first byte over the limit, so memory stays
bounded by the limit. A body that does not finish within ``timeout_s`` is
refused (slowloris). Admin and challenge bodies are then parsed as strict
JSON (no duplicate keys, no NaN/Infinity) and validated by a pydantic model.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import Receive

from .. import errors
from ..errors import Refused

M = TypeVar("M", bound=BaseModel)
_timeout: Any = getattr(asyncio, "timeout", None)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


async def read_asgi_body(
    headers: Mapping[str, str],
    receive: Receive,
    *,
    limit: int,
    media_types: tuple[str, ...],
    timeout_s: float,
) -> bytes:
    """Reads an ASGI request body (``headers``: lower-case names) within ``limit`` and ``timeout_s``."""
    if media_type(headers.get("content-type")) not in media_types:
        raise Refused(errors.UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be {' or '.join(media_types)}")
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(errors.INVALID_REQUEST, "malformed Content-Length")
        if int(declared) > limit:
            raise Refused(errors.INPUT_TOO_LARGE, f"body exceeds {limit} bytes")
    chunks: list[bytes] = []

    async def read_all() -> None:
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Refused(errors.INVALID_REQUEST, "client disconnected while sending the body")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise Refused(errors.INPUT_TOO_LARGE, f"body exceeds {limit} bytes")
                chunks.append(chunk)
            if not message.get("more_body", False):
                return

    try:
        if _timeout is not None:  # Python >= 3.11: a timer on this task, no extra task per request
            async with _timeout(timeout_s):
                await read_all()
        else:  # pragma: no cover - Python 3.10
            await asyncio.wait_for(read_all(), timeout_s)
    except (TimeoutError, asyncio.TimeoutError):
        raise Refused(errors.REQUEST_TIMEOUT, f"body not received within {timeout_s:g} s") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_body(request: Request, *, limit: int, media_types: tuple[str, ...], timeout_s: float) -> bytes:
    """:func:`read_asgi_body` for a Starlette request."""
    return await read_asgi_body(
        request.headers, request.receive, limit=limit, media_types=media_types, timeout_s=timeout_s
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate object key")
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_model(body: bytes, model: type[M]) -> M:
    """Strict JSON + pydantic validation; any failure is a 400 invalid_request. The body
    is UTF-8 without a byte-order mark, as for the proof endpoints (``json.loads`` of bytes
    would guess UTF-16 or UTF-32, and import their codecs on first use)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(errors.INVALID_REQUEST, "body is not UTF-8") from None
    if text.startswith("\ufeff"):
        raise Refused(errors.INVALID_REQUEST, "body starts with a byte-order mark")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
        # Lone surrogates survive json.loads but are not Unicode text: refuse them here.
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Refused(errors.INVALID_REQUEST, "body contains an unpaired surrogate") from None
    except (ValueError, RecursionError) as exc:
        raise Refused(errors.INVALID_REQUEST, f"body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(obj, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise Refused(errors.INVALID_REQUEST, f"{where}: {first.get('msg', 'invalid')}") from None

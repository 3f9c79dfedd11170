"""Decision events: one JSON line per verdict on the ``proof_messenger.decisions`` logger.

Fields are flat and stable for a SIEM: ``ts`` (RFC 3339, UTC), ``event``,
``outcome`` (``success``/``failure``), ``valid``, ``code``, ``client``,
``subject``, ``keyId``, ``enrollmentId``, ``audience``, ``nonce``,
``proofTimestamp``, ``contextDigest``, ``challenge``, ``receiptId``,
``requestId``, ``remoteAddr``. Never a signature, a bearer key or an admin
token; the verified ``context`` only when ``log_context`` is on.

>>> import io, logging
>>> log = logging.getLogger("doctest.decisions"); log.setLevel(logging.INFO)
>>> buf = io.StringIO(); log.addHandler(logging.StreamHandler(buf))
>>> from proof_messenger.relay.decision import Decision
>>> DecisionEvents(logger=log).emit([Decision(True, None, None, "bank", 0, "cli_1", subject="alice")])
>>> '"outcome":"success"' in buf.getvalue() and '"subject":"alice"' in buf.getvalue()
True
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Sequence

from .decision import Decision, b64url

LOGGER_NAME = "proof_messenger.decisions"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


_second_cache: tuple[int, str] = (-1, "")


def _rfc3339(ms: int) -> str:
    global _second_cache
    sec = ms // 1000
    cached = _second_cache
    if cached[0] != sec:
        cached = _second_cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    return f"{cached[1]}.{ms % 1000:03d}Z"


class DecisionEvents:
    def __init__(self, *, log_context: bool = False, logger: logging.Logger | None = None) -> None:
        self.log_context = log_context
        self.logger = logger or logging.getLogger(LOGGER_NAME)

    def emit(
        self, decisions: Sequence[Decision], *, request_id: str | None = None, remote_addr: str | None = None
    ) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        for d in decisions:
            event = {
                "ts": _rfc3339(d.decided_at_ms),
                "event": "proof_messenger.decision",
                "outcome": "success" if d.valid else "failure",
                "valid": d.valid,
                "code": d.code,
                "client": d.client_id,
                "subject": d.subject,
                "keyId": d.key_id,
                "enrollmentId": d.enrollment_id,
                "audience": d.audience,
                "nonce": d.nonce,
                "proofTimestamp": d.timestamp_ms,
                "contextDigest": b64url(d.context_digest),
                "receiptId": d.receipt_id,
                "requestId": request_id,
                "remoteAddr": remote_addr,
            }
            if self.log_context and d.context is not None:
                event["context"] = d.context
            # makeRecord + handle: what logger.info does, minus the caller lookup
            # (a stack walk per line that a decision event does not need).
            logger.handle(logger.makeRecord(logger.name, logging.INFO, __file__, 0, _dumps(event), (), None))
        for handler in logger.handlers:
            if isinstance(handler, DecisionLogHandler):
                handler.flush_now()


class DecisionLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes decision lines without a flush per line: :meth:`DecisionEvents.emit`
    flushes once per request group. The audit log, not this stream, is the
    durable record. A file target is reopened when logrotate moves it."""

    def __init__(self, target: str) -> None:
        self.path = None if target == "-" else target
        super().__init__(sys.stdout if self.path is None else open(target, "a", encoding="utf-8"))  # noqa: SIM115
        self._ino = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def flush(self) -> None:  # called by StreamHandler.emit after every record: defer
        pass

    def flush_now(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self.stream.flush()
            if self.path is not None and self._stat() != self._ino:
                self.stream.close()
                self.stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
                self._ino = self._stat()

    def close(self) -> None:
        try:
            self.flush_now()
        finally:
            if self.path is not None:
                self.stream.close()
            super().close()


def configure_decision_log(target: str) -> logging.Handler | None:
    """Routes decision events to stdout (``"-"``), a file, or nowhere (``""``).
    Returns the handler installed."""
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.propagate = False
    if not target:
        logger.setLevel(logging.CRITICAL + 1)
        return None
    handler = DecisionLogHandler(target)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler

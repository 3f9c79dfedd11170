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
import sys
import time
from collections.abc import Sequence
from logging.handlers import WatchedFileHandler

from .decision import Decision

LOGGER_NAME = "proof_messenger.decisions"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _rfc3339(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


class DecisionEvents:
    def __init__(self, *, log_context: bool = False, logger: logging.Logger | None = None) -> None:
        self.log_context = log_context
        self.logger = logger or logging.getLogger(LOGGER_NAME)

    def emit(
        self, decisions: Sequence[Decision], *, request_id: str | None = None, remote_addr: str | None = None
    ) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        info = self.logger.info
        for d in decisions:
            event = {
                "ts": _rfc3339(d.decided_at_ms),
                "event": "proof_messenger.decision",
                "outcome": "success" if d.valid else "failure",
                **d.record(),
                "receiptId": d.receipt_id,
                "requestId": request_id,
                "remoteAddr": remote_addr,
            }
            del event["decidedAt"]
            if self.log_context and d.context is not None:
                event["context"] = d.context
            info(_dumps(event))


def configure_decision_log(target: str) -> logging.Handler | None:
    """Routes decision events to stdout (``"-"``), a file (reopened after
    logrotate moves it) or nowhere (``""``). Returns the handler installed."""
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.propagate = False
    if not target:
        logger.setLevel(logging.CRITICAL + 1)
        return None
    handler: logging.Handler
    handler = logging.StreamHandler(sys.stdout) if target == "-" else WatchedFileHandler(target, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler

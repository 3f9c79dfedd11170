"""Decision events: one JSON line per verdict on the ``proof_messenger.decisions`` logger.

Fields are flat and stable for a SIEM: ``ts`` (RFC 3339, UTC), ``event``,
``outcome`` (``success``/``failure``), ``valid``, ``code``, ``client``,
``subject``, ``keyId``, ``enrollmentId``, ``audience``, ``nonce``,
``proofTimestamp``, ``contextDigest``, ``receiptId``,
``requestId``, ``remoteAddr``. Never a signature, a bearer key or an admin
token; the verified ``context`` (its canonical JSON) only when ``log_context``
is on. The lines are written by the relay's one line writer
(rust/relay/src/decision_line.rs, through ``proof_messenger._core.relay``).

>>> import io, logging
>>> log = logging.getLogger("doctest.decisions"); log.setLevel(logging.INFO)
>>> buf = io.StringIO(); log.addHandler(logging.StreamHandler(buf))
>>> from proof_messenger._core.relay import Decision
>>> DecisionEvents(logger=log).emit([Decision(True, None, None, "bank", 0, "cli_1", subject="alice")])
>>> '"outcome":"success"' in buf.getvalue() and '"subject":"alice"' in buf.getvalue()
True
"""

from __future__ import annotations

import logging
import os
import select
import stat
import sys
from collections.abc import Sequence

from proof_messenger._core.relay import Decision, decision_lines

LOGGER_NAME = "proof_messenger.decisions"


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
        lines = decision_lines(list(decisions), request_id, remote_addr, with_context=self.log_context)
        handlers = logger.handlers
        if len(handlers) == 1 and type(handlers[0]) is DecisionLogHandler and not logger.filters:
            # The configured decision log: straight to its buffer (no LogRecord per line;
            # measured at ~8 % of the relay's GIL time when every line went through logging).
            handlers[0].add_lines(lines)
            return
        # Any other logging setup: one LogRecord per decision, its constant attributes
        # computed once per call (LogRecord.__init__ looks up the time, thread and caller).
        template = vars(logger.makeRecord(logger.name, logging.INFO, __file__, 0, "", (), None))
        for line in lines:
            record = logging.LogRecord.__new__(logging.LogRecord)
            record.__dict__.update(template)
            record.msg = line.decode("utf-8")
            logger.handle(record)

    def flush(self) -> None:
        """Writes out what :meth:`emit` queued (the pipeline calls it once per request group)."""
        for handler in self.logger.handlers:
            if isinstance(handler, DecisionLogHandler):
                handler.flush_now()


class DecisionLogHandler(logging.Handler):
    """Collects decision lines and writes them when :meth:`DecisionEvents.emit`
    flushes (once per request group) — whole lines per ``write(2)``, at most
    PIPE_BUF bytes when the target is a pipe, so several relay workers sharing
    one stdout or one file never interleave inside a line. The audit log, not
    this stream, is the durable record. A file is reopened when logrotate moves it."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.path = None if target == "-" else target
        self._fd = sys.stdout.fileno() if self.path is None else self._open()
        mode = os.fstat(self._fd).st_mode
        self._chunk = select.PIPE_BUF if (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)) else 1 << 20
        self._lines: list[bytes] = []
        self._ino = self._stat()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)  # type: ignore[arg-type]

    def _stat(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def add_lines(self, lines: list[bytes]) -> None:
        """Queues encoded JSON lines (no newline) for the next :meth:`flush_now`."""
        with self.lock:  # type: ignore[union-attr]
            self._lines.extend(line + b"\n" for line in lines)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append((self.format(record) + "\n").encode("utf-8", "backslashreplace"))
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        self.flush_now()

    def flush_now(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._lines = self._lines, []
            chunk: list[bytes] = []
            size = 0
            for line in lines:
                if chunk and size + len(line) > self._chunk:
                    self._write(b"".join(chunk))
                    chunk, size = [], 0
                chunk.append(line)
                size += len(line)
            if chunk:
                self._write(b"".join(chunk))
            if self.path is not None and self._stat() != self._ino:
                os.close(self._fd)
                self._fd = self._open()
                self._ino = self._stat()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        try:
            self.flush_now()
        finally:
            if self.path is not None and self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
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

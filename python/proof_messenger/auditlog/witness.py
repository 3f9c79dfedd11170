"""Anchoring: pushing signed checkpoints to witnesses outside the relay's control.

Two kinds:

* :class:`FileWitness` appends each checkpoint to a file (a mount the relay
  operator cannot rewrite: WORM storage, another host's share, a backup
  target). The file is a stream of notes; ``audit verify --checkpoint FILE``
  reads it back.
* :class:`HttpWitness` POSTs to a URL using the C2SP tlog-witness
  ``add-checkpoint`` body (``old <size>``, the consistency proof from that
  size, a blank line, the checkpoint), so a real witness (omniwitness,
  litewitness, ...) can cosign; any other webhook can read the checkpoint
  after the first blank line. A ``409`` with ``text/x.tlog.size`` resyncs
  the old size and retries once. Cosignature lines returned are kept.

:class:`WitnessPusher` runs the pushes on one background thread, newest
checkpoint only, so a slow or dead witness never delays a response.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("proof_messenger.auditlog")

ProofSource = Callable[[int, int], list[bytes]]  # (old size, new size) -> consistency proof


@dataclass(frozen=True, slots=True)
class Pushed:
    note: str
    size: int


class Witness(Protocol):
    name: str

    def push(self, checkpoint: Pushed, proof: ProofSource) -> None: ...


class FileWitness:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"

    def push(self, checkpoint: Pushed, proof: ProofSource) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, checkpoint.note.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)


# The TLS context witnesses verify with, made by preload_tls while the relay is still
# root; None: each client loads the CA bundle itself when it is made.
_TLS: ssl.SSLContext | None = None


def preload_tls() -> None:
    """Loads the CA bundle now. The relay calls this before it drops root: the bundle
    (certifi's, or $SSL_CERT_FILE) may be unreadable by the service user, and an
    HttpWitness makes its client on its first push, after the drop."""
    global _TLS
    import httpx

    _TLS = httpx.create_ssl_context()


class HttpWitness:
    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.name = url
        self.timeout = timeout
        self.old_size = 0  # the size this witness last accepted (learnt from 409s)
        self.cosignatures: list[str] = []  # signature lines of the latest cosigned checkpoint
        self._client: Any = None  # one httpx.Client, made on the first push (pushes are serial)

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self.timeout, verify=_TLS if _TLS is not None else True)
        return self._client

    def body(self, checkpoint: Pushed, proof: ProofSource) -> bytes:
        lines = [f"old {self.old_size}\n"]
        if 0 < self.old_size < checkpoint.size:
            lines += [base64.b64encode(h).decode() + "\n" for h in proof(self.old_size, checkpoint.size)]
        return ("".join(lines) + "\n" + checkpoint.note).encode()

    def push(self, checkpoint: Pushed, proof: ProofSource) -> None:
        for _attempt in range(2):
            resp = self._http().post(
                self.url,
                content=self.body(checkpoint, proof),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
            if resp.status_code == 409 and resp.headers.get("content-type", "").startswith(
                "text/x.tlog.size"
            ):
                size = int(resp.text.strip())
                if size > checkpoint.size:
                    raise RuntimeError(f"witness {self.url} has seen size {size} > ours {checkpoint.size}")
                self.old_size = size
                continue
            resp.raise_for_status()
            self.old_size = checkpoint.size
            self.cosignatures = [line + "\n" for line in resp.text.splitlines() if line.startswith("\u2014 ")]
            return
        raise RuntimeError(f"witness {self.url} kept answering 409")


class WitnessPusher:
    """Pushes the newest submitted checkpoint to every witness, on one thread."""

    def __init__(self, witnesses: Sequence[Witness], proof: ProofSource) -> None:
        self.witnesses = list(witnesses)
        self._proof = proof
        self._cv = threading.Condition()
        self._pending: Pushed | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        if self.witnesses:
            self._thread = threading.Thread(target=self._run, name="audit-witness", daemon=True)
            self._thread.start()

    def submit(self, checkpoint: Pushed) -> None:
        if not self.witnesses:
            return
        with self._cv:
            self._pending = checkpoint
            self._cv.notify_all()

    def flush(self, timeout: float = 10.0) -> None:
        """Waits until everything submitted so far has been pushed (tests, shutdown)."""
        with self._cv:
            self._cv.wait_for(lambda: self._pending is None and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                item, self._pending, self._busy = self._pending, None, True
            for w in self.witnesses:
                try:
                    w.push(item, self._proof)
                except Exception as exc:  # a witness failure is logged, never fatal to the log
                    log.warning("audit witness %s: push of size %d failed: %s", w.name, item.size, exc)
            with self._cv:
                self._busy = False
                self._cv.notify_all()

    def close(self) -> None:
        self.flush()
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

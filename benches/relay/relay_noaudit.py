"""``proof-messenger relay`` with an audit sink that records nothing: the "audit log
off" side of bench_audit.py. For benchmarks only; the relay itself has no such switch."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from proof_messenger.auditlog import Receipt
from proof_messenger.relay import app as relay_app
from proof_messenger.relay.cli import relay_main
from proof_messenger.relay.config import Config
from proof_messenger.relay.decision import Decision


class NullSink:
    def __init__(self) -> None:
        self.n = 0

    def append(self, decision: Decision) -> Receipt:
        return self.append_many([decision])[0]

    def append_many(self, decisions: Sequence[Decision]) -> list[Receipt]:
        first, self.n = self.n, self.n + len(decisions)
        return [Receipt(f"rcpt_none_{first + k}", "none", first + k, b"", b"") for k in range(len(decisions))]

    def sync(self) -> None:
        pass

    def attach_checkpoint(self, decisions: Sequence[Decision]) -> None:
        pass

    def close(self) -> None:
        pass


def _open_null(config: Config, data_dir: Path | None = None) -> NullSink:
    return NullSink()


relay_app.open_audit_sink = _open_null  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(relay_main(sys.argv[1:]))

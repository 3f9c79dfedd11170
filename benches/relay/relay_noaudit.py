"""``proof-messenger relay`` with an audit sink that records nothing: the "audit log
off" side of bench_audit.py. For benchmarks only; the relay itself has no such switch."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from proof_messenger._core.relay import Decision
from proof_messenger.relay import service
from proof_messenger.relay.cli import relay_main
from proof_messenger.relay.config import Config


class NullSink:
    def append(self, decisions: Sequence[Decision]) -> None:
        pass

    def sync(self) -> None:
        pass

    def complete(self, decisions: Sequence[Decision]) -> None:
        pass

    def close(self) -> None:
        pass


def _open_null(config: Config, data_dir: Path | None = None) -> NullSink:
    return NullSink()


service.open_audit_sink = _open_null  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(relay_main(sys.argv[1:]))

"""Helpers for the audit log tests: build logs, and edit their files like an intruder would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from proof_messenger.auditlog import AuditLog, AuditRecord
from proof_messenger.auditlog.store import ENTRIES, MARKER_PREFIX


def record(i: int, **kw: object) -> AuditRecord:
    fields: dict[str, object] = {
        "time_ms": 1_764_331_200_000 + i,
        "decision": "accepted" if i % 3 else "rejected",
        "reason": None if i % 3 else "bad_signature",
        "audience": "payments-api",
        "client": f"cli_{i % 4}",
        "subject": f"user{i % 7}",
        "key_id": f"kid-{i % 5}",
        "algorithm": "Ed25519",
        "signed_digest": f"{i:064x}",
    }
    fields.update(kw)
    return AuditRecord(**fields)  # type: ignore[arg-type]


def build_log(
    directory: Path, entries: int = 60, batch: int = 7, origin: str = "example.com/audit/0"
) -> Path:
    """A closed log of ``entries`` entries, committed in batches, a checkpoint persisted per batch."""
    with AuditLog.open(directory, origin=origin, background=False) as log:
        for start in range(0, entries, batch):
            log.append_many([record(i) for i in range(start, min(entries, start + batch))])
            log.checkpoint()
    return directory


class Lines:
    """``entries.jsonl`` as lines, telling leaves from commit markers."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / ENTRIES
        self.lines = self.path.read_bytes().split(b"\n")[:-1]

    def leaf_positions(self) -> list[int]:
        return [k for k, line in enumerate(self.lines) if not line.startswith(MARKER_PREFIX)]

    def leaf(self, i: int) -> bytes:
        return self.lines[self.leaf_positions()[i]]

    def set_leaf(self, i: int, data: bytes) -> None:
        self.lines[self.leaf_positions()[i]] = data

    def write(self) -> None:
        self.path.write_bytes(b"".join(line + b"\n" for line in self.lines))


@pytest.fixture
def log_dir(tmp_path: Path) -> Iterator[Path]:
    yield build_log(tmp_path / "log")


def entry_json(leaf: bytes) -> dict[str, object]:
    obj: dict[str, object] = json.loads(leaf)
    return obj

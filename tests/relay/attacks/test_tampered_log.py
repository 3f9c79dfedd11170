"""A relay whose audit log was cut below its own signed checkpoint (entries deleted by
someone holding the data directory) must refuse to start, and say so in one line that
names the log and the command to inspect it: no traceback, and no supervisor loop
restarting it into the same refusal (exit status 78, EX_CONFIG)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from proof_messenger.auditlog.store import ENTRIES, MARKER_PREFIX

from ..conftest import relay_argv, sign, start_relay
from .conftest import enroll, new_client


def cut_below_checkpoint(data: Path) -> Path:
    """Deletes every entry but the first of the (one) log that holds entries."""
    logs = [p.parent for p in data.rglob(ENTRIES) if p.stat().st_size > 0]
    assert logs, f"no audit log with entries under {data}"
    path = logs[0] / ENTRIES
    lines = path.read_bytes().split(b"\n")[:-1]
    leaves = [k for k, line in enumerate(lines) if not line.startswith(MARKER_PREFIX)]
    assert len(leaves) >= 3
    path.write_bytes(b"".join(line + b"\n" for line in lines[: leaves[1]]))
    return logs[0]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_relay_on_a_cut_log_refuses_to_start_in_one_line(tmp_path: Path, workers: str) -> None:
    data = tmp_path / "data"
    relay = start_relay(data)
    try:
        with httpx.Client(timeout=10) as http:
            client = new_client(relay, http)
            key = enroll(relay, http)
            for _ in range(3):
                r = http.post(
                    f"{relay.url}/v1/proofs/verify",
                    content=sign(key).to_json(),
                    headers={"authorization": f"Bearer {client}", "content-type": "application/json"},
                )
                assert r.json()["valid"] is True
    finally:
        assert relay.stop() == 0  # a clean stop signs a checkpoint over the three entries
    log_dir = cut_below_checkpoint(data)
    run = subprocess.run(
        relay_argv(data, "--workers", workers),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 78, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    refusal = [line for line in run.stderr.splitlines() if "refusing to start" in line]
    assert len(refusal) == 1, run.stderr
    assert str(log_dir) in refusal[0] and f"proof-messenger audit verify {log_dir}" in refusal[0]

"""``--demo`` on a relay that holds real enrolments (issue 13, low).

Before: the demo (unauthenticated challenge minting for any subject, self-enrolment
into the registry, a new API client per start) ran on any data directory without a
word. Now it runs only on a data directory the demo made (marked ``DEMO``), or when
forced, and says loudly that it is on; a relay out of demo mode on a demo directory
warns that its registry holds demo enrolments.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from ..conftest import relay_command, start_relay
from .conftest import enroll


def _run_demo(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [*relay_command(), "--port", "0", "--data-dir", str(data), "--allow-root", "--demo", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


def test_the_demo_refuses_a_production_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "prod"
    relay = start_relay(data)
    with httpx.Client(timeout=10) as http:
        enroll(relay, http, "alice")
    assert relay.stop() == 0
    refused = _run_demo(data)
    assert refused.returncode == 78, refused.stderr
    assert "refusing demo mode" in refused.stderr and "--demo-force" in refused.stderr
    assert not (data / "DEMO").exists()
    # forced: it runs, and says so
    forced = start_relay(data, "--demo", "--demo-force")
    try:
        log = forced.stderr_path.read_text()
        assert "demo mode forced" in log and "DEMO MODE" in log
    finally:
        forced.stop()


def test_a_demo_directory_runs_the_demo_and_warns_a_production_relay(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    demo = start_relay(data, "--demo")
    try:
        assert "DEMO MODE" in demo.stderr_path.read_text()
    finally:
        assert demo.stop() == 0
    assert (data / "DEMO").exists()
    again = start_relay(data, "--demo")  # the demo's own directory: no refusal
    again.stop()
    plain = start_relay(data)
    try:
        assert "was made by the demo" in plain.stderr_path.read_text()
    finally:
        plain.stop()

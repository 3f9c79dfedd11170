"""kill -9 under load: after restart the log verifies and holds every acknowledged append.

A subprocess (crash_driver.py) appends from several threads and prints an
``ack`` only after the group commit returned. The test SIGKILLs it at random
moments, 20 times, reopening the log in between (which recovers it), and
checks after each kill:

* every acknowledged entry is in the log, at its index, with its content;
* every checkpoint handed out with an acknowledgement is a prefix of the
  recovered log (the log never signed a tree it then lost: no fork);
* the offline auditor finds nothing wrong;
* a torn tail (the kill landed inside a write) was cut, never kept.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from proof_messenger.auditlog import AuditLog, audit_data_dir, audit_log
from proof_messenger.auditlog.store import ENTRIES

DRIVER = Path(__file__).with_name("crash_driver.py")
KILLS = int(os.environ.get("PM_AUDIT_KILLS", "20"))


class Driver:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(DRIVER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.acks: list[tuple[str, int, str, int, str]] = []
        self.ready = threading.Event()
        self.name = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.endswith("\n"):
                break  # a line cut by the kill was never a complete acknowledgement
            parts = line.split()
            if parts[0] == "ready":
                self.name = parts[1]
                self.ready.set()
            elif parts[0] == "ack":
                self.acks.append((parts[1], int(parts[2]), parts[3], int(parts[4]), parts[5]))

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=30)

    def wait(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=120) == 0, self.proc.stderr.read() if self.proc.stderr else ""
        self._reader.join(timeout=30)


def check_acks(log: AuditLog, acks: list[tuple[str, int, str, int, str]]) -> None:
    for _name, index, token, cp_size, cp_root in acks:
        assert index < log.size, f"acknowledged entry {index} lost (log size {log.size})"
        assert json.loads(log._store.leaf(index))["client"] == token
        assert cp_size <= log.size and log._store.root(cp_size).hex() == cp_root, (
            "a signed checkpoint was lost"
        )


@pytest.mark.slow
def test_sigkill_under_load_never_loses_an_acknowledged_entry(tmp_path: Path) -> None:
    d = tmp_path / "log"
    rnd = random.Random(1)
    total_acks = 0
    torn = 0
    all_acks: list[tuple[str, int, str, int, str]] = []
    for round_ in range(KILLS):
        drv = Driver(str(d), f"r{round_}")
        assert drv.ready.wait(60), drv.proc.stderr.read() if drv.proc.stderr else ""
        want = rnd.randrange(5, 300)
        deadline = time.monotonic() + 20
        while len(drv.acks) < want and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rnd.random() * 0.02)  # land anywhere: mid-write, mid-fsync, mid-checkpoint
        drv.kill()
        assert drv.acks, "the driver acknowledged nothing"
        all_acks += drv.acks
        total_acks += len(drv.acks)
        with AuditLog.open(d, background=False) as log:  # the restart: recovery runs here
            assert log.recovery is not None
            torn += log.recovery.dropped_bytes > 0
            check_acks(log, all_acks)
            raw = (d / ENTRIES).read_bytes()
            assert raw.endswith(b"\n")  # nothing torn kept
        report = audit_log(d)
        assert report.ok, report.findings
    print(f"\n{KILLS} kills, {total_acks} acknowledged appends, {torn} recoveries cut an uncommitted tail")


@pytest.mark.slow
def test_several_processes_each_get_their_own_log(tmp_path: Path) -> None:
    """Three processes on one host share a data dir: three logs, three keys, all verify."""
    root = tmp_path / "data" / "auditlog"
    drivers = [
        Driver(str(root), f"p{k}", "--node", "host", "--count", "60", "--threads", "2", "--hold")
        for k in range(3)
    ]
    for drv in drivers:  # all three hold their log at once
        assert drv.ready.wait(60)
    for drv in drivers:
        drv.wait()
    names = sorted(drv.name for drv in drivers)
    assert names == ["host-0", "host-1", "host-2"]
    reports, orphans = audit_data_dir(tmp_path / "data")
    assert not orphans and [r.ok for r in reports] == [True] * 3
    assert len({r.origin for r in reports}) == 3
    assert sum(r.entries for r in reports) == sum(len(drv.acks) for drv in drivers)
    keys = {(root / n / "log.pub").read_text() for n in names}
    assert len(keys) == 3
    # One of them is killed mid-load; a restart leases the free slot back and recovers it.
    drv = Driver(str(root), "again", "--node", "host")
    assert drv.ready.wait(60)
    deadline = time.monotonic() + 60  # generous: only catches a driver that stalls or died
    while len(drv.acks) < 50:
        assert drv.proc.poll() is None, f"the driver exited after {len(drv.acks)} acks"
        assert time.monotonic() < deadline, (
            f"the driver acknowledged only {len(drv.acks)} of 50 appends in 60 s"
        )
        time.sleep(0.005)
    drv.kill()
    with AuditLog.open(root / drv.name, background=False) as log:
        check_acks(log, drv.acks)
    reports, _ = audit_data_dir(tmp_path / "data")
    assert all(r.ok for r in reports)

"""Static typing of the package: mypy --strict passes, and the _core stubs match the extension."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MYPY_CACHE_DIR": str(cache)},
    )


def test_mypy_strict(tmp_path: Path) -> None:
    done = run("mypy", "--strict", "python/proof_messenger", cache=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_stubtest_core(tmp_path: Path) -> None:
    done = run("mypy.stubtest", "proof_messenger._core", cache=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

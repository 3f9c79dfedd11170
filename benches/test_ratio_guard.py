"""The CI ratio guard as a test (short mode), for test scripts that prefer pytest:

    .venv/bin/python -m pytest benches/test_ratio_guard.py -p no:cacheprovider

Same as ``.venv/bin/python benches/ratio_guard.py``, but the report goes to a
temporary directory (the script's default is the untracked .cache/bench/ci-latest.json).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import ratio_guard

REPO = Path(__file__).resolve().parent.parent


def test_verify_batch_is_not_slower_than_pynacl_loop(tmp_path: Path) -> None:
    out = tmp_path / "ci-latest.json"
    report = ratio_guard.run(proofs=1_000, rounds=5, out=out)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    guard = report["guard"]
    assert guard["passed"], (
        f"verify_batch is slower than the PyNaCl loop measured in the same run: ratio {guard['ratio']} "
        f"< {guard['min_ratio']} ({report['medians_ns_per_proof']})"
    )


def test_default_report_is_not_a_tracked_file() -> None:
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    path = ratio_guard.DEFAULT_OUT.relative_to(REPO)
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", str(path)], cwd=REPO, capture_output=True, check=False
    )
    assert tracked.returncode != 0, f"{path} is tracked: make test would modify the checkout"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO, check=False)
    assert ignored.returncode == 0, f"{path} is not ignored by .gitignore"

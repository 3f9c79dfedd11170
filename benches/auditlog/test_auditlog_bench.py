"""Smoke test of the audit log benchmark at a tiny scale (the real run: bench_auditlog.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_auditlog as B


def test_benchmark_runs_small(tmp_path: Path) -> None:
    gc = B.bench_group_commit(tmp_path, threads=4, seconds=0.3)
    assert gc["appends_per_s"] > 0 and gc["appends_per_fsync"] >= 1
    build = B.build_big_log(tmp_path / "big", 3000, batch=500, persist_every=1000)
    assert build["entries"] == 3000
    proofs = B.bench_proofs(tmp_path / "big", samples=50)
    assert proofs["max_node_reads_per_inclusion_proof"] <= 2 * (3000).bit_length()
    audit = B.bench_audit(tmp_path / "big")
    assert audit["entries"] == 3000 and audit["checkpoints"] >= 3

"""Fixtures for the core verification benchmark (issue 2).

Full run (about 2-5 minutes on 2 cores), writes benches/results/verify-latest.json:

    .venv/bin/python -m pytest benches/test_verify_bench.py --benchmark-enable -p no:cacheprovider

``--pm-proofs N`` (default 10000) and ``--pm-rounds R`` (default 5) size it.
Without ``--benchmark-enable`` (the repository's addopts disable benchmarks)
every candidate runs once as a correctness smoke test and nothing is recorded.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pm_verify_workload as W

_RESULTS: dict[str, Any] = {
    "medians_ns_per_proof": {},
    "samples_ns_per_proof": {},
    "cpu_ns_per_proof": {},
    "interleaved": None,
    "rust_core": None,
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("proof-messenger benchmarks")
    group.addoption("--pm-proofs", type=int, default=10_000, help="proofs in the workload (default 10000)")
    group.addoption("--pm-rounds", type=int, default=5, help="timed rounds per candidate (default 5)")


@pytest.fixture(scope="session")
def pm_rounds(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--pm-rounds"))


@pytest.fixture(scope="session")
def workload(request: pytest.FixtureRequest) -> W.Workload:
    start = time.perf_counter()
    w = W.make_workload(int(request.config.getoption("--pm-proofs")))
    # The peers must recompute exactly the digest the package signs, for every proof.
    W.check_peer_digests(w)
    _RESULTS["workload"] = {
        "proofs": w.n,
        "distinct_keys": len(set(w.enrolled_raw.values())),
        "distinct_subjects": len(set(w.subjects)),
        "mean_proof_bytes": round(sum(map(len, w.proofs)) / w.n, 1),
        "setup_seconds": round(time.perf_counter() - start, 2),
    }
    return w


@pytest.fixture(scope="session")
def proofs_jsonl(workload: W.Workload, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return W.write_jsonl(workload, tmp_path_factory.mktemp("pm-bench") / "proofs.jsonl")


@pytest.fixture(scope="session")
def nacl_pool(workload: W.Workload) -> Iterator[Any]:
    pool = W.start_pool(workload, processes=2)
    try:
        yield pool
    finally:
        pool.close()
        pool.join()


@pytest.fixture(scope="session")
def rust_core(proofs_jsonl: Path, pm_rounds: int) -> dict[str, Any]:
    report = W.run_rust_core(proofs_jsonl, rounds=max(pm_rounds, 3))
    _RESULTS["rust_core"] = report
    return report


def record(name: str, median_ns: float, samples_ns: list[float], cpu_ns: float) -> None:
    _RESULTS["medians_ns_per_proof"][name] = median_ns
    _RESULTS["samples_ns_per_proof"][name] = samples_ns
    _RESULTS["cpu_ns_per_proof"][name] = cpu_ns


def record_interleaved(medians: dict[str, float], rounds: int) -> None:
    _RESULTS["interleaved"] = {
        "rounds": rounds,
        "medians_ns_per_proof": {k: round(v, 1) for k, v in medians.items()},
        "ratios": W.ratios(medians, None),
    }


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    medians = _RESULTS["medians_ns_per_proof"]
    if not medians:
        return
    report = {
        "benchmark": "core verification (issue 2), pytest-benchmark, one run",
        "unit": "median ns per proof (lower is better); ratios are throughput ours/peer",
        "machine": W.machine(),
        "workload": _RESULTS.get("workload"),
        "medians_ns_per_proof": {k: round(v, 1) for k, v in medians.items()},
        "samples_ns_per_proof": {
            k: [round(x, 1) for x in v] for k, v in _RESULTS["samples_ns_per_proof"].items()
        },
        "cpu_ns_per_proof": {k: round(v, 1) for k, v in _RESULTS["cpu_ns_per_proof"].items()},
        "rust_core": _RESULTS["rust_core"],
        "ratios": W.ratios(medians, _RESULTS["rust_core"]),
        "cpu_analysis": W.cpu_analysis(medians, _RESULTS["cpu_ns_per_proof"], _RESULTS["rust_core"]),
        "interleaved_cross_check": _RESULTS["interleaved"],
        "exitstatus": int(exitstatus),
    }
    path = W.write_report(W.RESULTS / "verify-latest.json", report)
    lines = [f"proof-messenger verify benchmark report: {path}"]
    for name, ns in sorted(medians.items(), key=lambda kv: kv[1]):
        lines.append(f"  {name:24s} {ns / 1000:9.1f} us/proof")
    if _RESULTS["rust_core"]:
        rc = _RESULTS["rust_core"]
        lines.append(f"  {'rust_core_single':24s} {rc['single_ns_per_proof'] / 1000:9.1f} us/proof")
        lines.append(f"  {'rust_core_batch':24s} {rc['batch_ns_per_proof'] / 1000:9.1f} us/proof")
    for key, r in report["ratios"].items():
        met = "" if r.get("met") is None else ("  MET" if r["met"] else "  MISSED")
        lines.append(f"  {key:32s} {r['value']:7.3f}  target {r['target']}{met}")
    for key, value in report["cpu_analysis"].items():
        lines.append(f"  {key:32s} {value}")
    if _RESULTS["interleaved"]:
        for key, r in _RESULTS["interleaved"]["ratios"].items():
            if r.get("target") is not None:
                lines.append(f"  interleaved {key:20s} {r['value']:7.3f}  target {r['target']}")
    terminalreporter.section("proof-messenger core verification (issue 2)")
    for line in lines:
        terminalreporter.write_line(line)

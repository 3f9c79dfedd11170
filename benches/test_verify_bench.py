"""Core verification benchmark (issue 2): ours vs PyNaCl, pyca/cryptography, a 2-process pool, raw Rust.

Every candidate verifies the same proofs (default 10,000) from JSON bytes to
verdict, trust lookup included, and must accept every one of them. See
conftest.py for the command; the report goes to benches/results/verify-latest.json.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pm_verify_workload as W
import pytest
from conftest import record, record_interleaved

# Ours first, next to the raw Rust run, so the Python-overhead ratio compares neighbours in time.
CANDIDATES = [
    "ours_batch_resolver",
    "ours_batch_trusted",
    "ours_single_resolver",
    "ours_single_trusted",
    "pynacl_loop",
    "pynacl_pool2",
    "cryptography_loop",
]


def test_rust_core_limit(rust_core: dict[str, Any], workload: W.Workload) -> None:
    """The raw core over the same proofs (subprocess); numbers go to the report."""
    assert rust_core["proofs"] == workload.n
    assert rust_core["batch_ns_per_proof"] > 0 and rust_core["single_ns_per_proof"] > 0


@pytest.mark.parametrize("library", CANDIDATES)
def test_verify(
    benchmark: Any,
    library: str,
    workload: W.Workload,
    pm_rounds: int,
    rust_core: dict[str, Any],
    request: pytest.FixtureRequest,
) -> None:
    pool = request.getfixturevalue("nacl_pool") if library == "pynacl_pool2" else None
    fn = W.candidates(workload, pool)[library]

    verdicts = fn()  # correctness, and warm-up
    assert len(verdicts) == workload.n and all(verdicts), f"{library} rejected a valid proof"

    benchmark.group = f"verify {workload.n} proofs"
    benchmark.extra_info.update(
        proofs=workload.n,
        rust_core_single_ns_per_proof=rust_core["single_ns_per_proof"],
        rust_core_batch_ns_per_proof=rust_core["batch_ns_per_proof"],
    )
    cpu: list[int] = []

    def measured() -> Any:
        # CPU time of this process, all threads (rayon's included); a pool's workers are not counted.
        start = time.process_time_ns()
        out = fn()
        cpu.append(time.process_time_ns() - start)
        return out

    benchmark.pedantic(measured, rounds=pm_rounds, iterations=1, warmup_rounds=0)
    if benchmark.disabled or benchmark.stats is None:
        return
    stats = benchmark.stats.stats
    median_ns = stats.median * 1e9 / workload.n
    cpu_ns = statistics.median(cpu) / workload.n
    benchmark.extra_info.update(median_ns_per_proof=round(median_ns, 1), cpu_ns_per_proof=round(cpu_ns, 1))
    record(library, median_ns, [s * 1e9 / workload.n for s in stats.data], cpu_ns)


def test_interleaved_cross_check(
    workload: W.Workload, nacl_pool: Any, proofs_jsonl: Any, pm_rounds: int, request: pytest.FixtureRequest
) -> None:
    """The same candidates again (plus the raw Rust batch), rounds rotated across candidates,
    so drifting machine load hits all of them alike."""
    config = request.config
    if config.getoption("benchmark_disable", default=False) and not config.getoption(
        "benchmark_enable", default=False
    ):
        pytest.skip("benchmarks disabled")
    rounds = max(3, pm_rounds // 2)
    fns = W.candidates(workload, nacl_pool)
    fns["rust_core_batch"] = lambda: W.rust_core_quick(proofs_jsonl)
    timings = W.interleaved_medians(fns, rounds=rounds, n=workload.n)
    record_interleaved({k: v["median_ns_per_proof"] for k, v in timings.items()}, rounds)

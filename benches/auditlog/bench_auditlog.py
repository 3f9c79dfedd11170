"""Audit log benchmarks (issue 5): appends/s with group commit, proofs at 1M entries, audit verify of 1M.

    .venv/bin/python benches/auditlog/bench_auditlog.py [--entries 1000000] [--dir DIR] [--keep]

Writes benches/results/auditlog-latest.json and prints a summary. The data
directory defaults to a temporary one on the same disk as the repository
(fsync costs are the disk's). Not a timed test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from proof_messenger.auditlog import AuditLog, AuditRecord, merkle

REPO = Path(__file__).resolve().parents[2]


def record(i: int) -> AuditRecord:
    """A realistic relay decision: ids, a 43-char key thumbprint, a hex digest (about 330 bytes)."""
    return AuditRecord(
        time_ms=1_764_331_200_000 + i,
        decision="accepted" if i % 10 else "rejected",
        reason=None if i % 10 else "bad_signature",
        audience="payments-api",
        client=f"cli_{i % 50:04d}",
        subject=f"user-{i % 100_000:06d}",
        key_id="NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
        algorithm="Ed25519",
        signed_digest=f"{i:064x}",
    )


def bench_group_commit(root: Path, threads: int, seconds: float) -> dict[str, Any]:
    """``threads`` callers each doing append + commit (what a relay request does) for ``seconds``."""
    d = root / f"gc-{threads}"
    log = AuditLog.open(d, origin=f"bench/gc-{threads}", background=True, checkpoint_interval=1.0)
    syncs = 0
    real = log._store.sync

    def counting() -> None:
        nonlocal syncs
        syncs += 1
        real()

    log._store.sync = counting  # type: ignore[method-assign]
    stop = time.monotonic() + seconds
    counts = [0] * threads
    latencies: list[float] = []

    def worker(t: int) -> None:
        i = t * 10_000_000
        lat = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            log.append_many([record(i)])
            log.commit()
            lat.append(time.perf_counter() - t0)
            i += 1
            counts[t] += 1
        latencies.extend(lat)

    ths = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    t0 = time.monotonic()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    elapsed = time.monotonic() - t0
    log.close()
    total = sum(counts)
    latencies.sort()
    return {
        "threads": threads,
        "appends_per_s": round(total / elapsed),
        "fsyncs_per_s": round(syncs / elapsed),
        "appends_per_fsync": round(total / max(syncs, 1), 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1e3, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1e3, 2),
    }


def build_big_log(d: Path, entries: int, batch: int = 1000, persist_every: int = 1000) -> dict[str, Any]:
    """Batches of ``batch`` (one group commit each); a checkpoint persisted every
    ``persist_every`` entries (a relay at 1000 decisions/s persisting one a second)."""
    t0 = time.monotonic()
    with AuditLog.open(d, origin="bench/big", background=False) as log:
        for start in range(0, entries, batch):
            log.append_many([record(i) for i in range(start, min(entries, start + batch))])
            log.commit(persist=(start + batch) % persist_every == 0)
    elapsed = time.monotonic() - t0
    sizes = {p.name: p.stat().st_size for p in d.iterdir() if p.is_file()}
    return {
        "entries": entries,
        "batch": batch,
        "seconds": round(elapsed, 1),
        "appends_per_s": round(entries / elapsed),
        "bytes": sizes,
    }


def bench_proofs(d: Path, samples: int = 2000) -> dict[str, Any]:
    rnd = random.Random(5)
    with AuditLog.open(d, background=False) as log:
        n = log.latest.size
        reads = 0
        store_node = log._store.node

        def counting(level: int, index: int) -> bytes:
            nonlocal reads
            reads += 1
            return store_node(level, index)

        idx = [rnd.randrange(n) for _ in range(samples)]
        t0 = time.perf_counter()
        for i in idx:
            merkle.inclusion_proof(log._store.node, i, n)
        raw = (time.perf_counter() - t0) / samples
        t0 = time.perf_counter()
        for i in idx:
            log.inclusion_proof(i, n)  # + self-check against the signed root
        checked = (time.perf_counter() - t0) / samples
        t0 = time.perf_counter()
        for i in idx[:500]:
            log.receipt(i)
        receipt = (time.perf_counter() - t0) / 500
        olds = [rnd.randrange(1, n) for _ in range(samples)]
        t0 = time.perf_counter()
        for o in olds:
            merkle.consistency_proof(log._store.node, o, n)
        consistency = (time.perf_counter() - t0) / samples
        max_reads = 0
        for i in idx[:200]:
            reads = 0
            merkle.inclusion_proof(counting, i, n)
            max_reads = max(max_reads, reads)
        proof_len = len(log.inclusion_proof(idx[0], n))
        by_size = {}
        for size in (1_000, 10_000, 100_000, n):
            if size > n:
                continue
            sample = [rnd.randrange(size) for _ in range(samples)]
            t0 = time.perf_counter()
            for i in sample:
                merkle.inclusion_proof(log._store.node, i, size)
            by_size[str(size)] = round((time.perf_counter() - t0) / samples * 1e6, 1)
    return {
        "inclusion_proof_us_by_tree_size": by_size,
        "tree_size": n,
        "inclusion_proof_us": round(raw * 1e6, 1),
        "inclusion_proof_self_checked_us": round(checked * 1e6, 1),
        "receipt_with_proof_us": round(receipt * 1e6, 1),
        "consistency_proof_us": round(consistency * 1e6, 1),
        "max_node_reads_per_inclusion_proof": max_reads,
        "proof_hashes": proof_len,
    }


def bench_audit(d: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "proof_messenger.auditlog",
        "verify",
        str(d),
        "--json",
        "--progress",
        "never",
    ]
    runs = []
    for _ in range(2):
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        runs.append(time.monotonic() - t0)
        assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    return {
        "command": " ".join(["proof-messenger audit verify", "DATA_DIR"]),
        "seconds_wall": [round(r, 2) for r in runs],
        "seconds_median": round(statistics.median(runs), 2),
        "entries": doc["logs"][0]["entries"],
        "checkpoints": doc["logs"][0]["checkpoints"],
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--entries", type=int, default=1_000_000)
    p.add_argument("--dir", default=None, help="where to build the logs (default: a temp dir under the repo)")
    p.add_argument("--seconds", type=float, default=5.0, help="per group-commit run")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--out", default=str(REPO / "benches" / "results" / "auditlog-latest.json"))
    args = p.parse_args()
    root = (
        Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="auditlog-bench-", dir=REPO / "target"))
    )
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "benchmark": "audit log (issue 5)",
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg(),
        },
    }
    try:
        results["group_commit"] = [bench_group_commit(root, t, args.seconds) for t in (1, 8, 64)]
        print(json.dumps(results["group_commit"], indent=1), flush=True)
        big = root / "big"
        results["build"] = build_big_log(big, args.entries)
        print(json.dumps(results["build"], indent=1), flush=True)
        results["proofs"] = bench_proofs(big)
        print(json.dumps(results["proofs"], indent=1), flush=True)
        results["audit_verify"] = bench_audit(big)
        print(json.dumps(results["audit_verify"], indent=1), flush=True)
        results["machine"]["loadavg_at_end"] = os.getloadavg()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

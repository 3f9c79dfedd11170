"""Relay verify throughput with the Merkle audit log on vs off, in one run.

Two relay processes, identical except for the audit sink: "on" is the relay as
shipped (the Merkle log of docs/AUDIT_LOG.md: group commit, one fdatasync and one
signed checkpoint per group, receipts in every response); "off" is the same relay
with a sink that records nothing (``relay_noaudit.py``). Same load generator as
``bench.py`` (wrk + bodies.lua, a distinct fresh proof per request), rounds
alternate on/off; the median of each is reported, per concurrency.

    .venv/bin/python benches/relay/bench_audit.py                     # 32 and 1 connections
    .venv/bin/python benches/relay/bench_audit.py --connections 64 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import PY, cpu_seconds, enroll_bench, sign_proofs, start, stop, wrk  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, nargs="+", default=[32, 1])
    ap.add_argument("--subjects", type=int, default=200)
    ap.add_argument("--relay-arg", action="append", default=[], help="extra flag for both relays")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pm-audit-bench-"))
    common = [
        "--port",
        "0",
        "--allow-root",
        "--decision-log",
        "",
        "--rate-limit-client",
        "1000000/second",
        "--rate-limit-subject",
        "100000/minute",
        *args.relay_arg,
    ]
    procs = {}
    urls = {}
    try:
        for name, cmd in (
            ("on", [PY, "-m", "proof_messenger.relay"]),
            ("off", [PY, str(HERE / "relay_noaudit.py")]),
        ):
            data = work / name
            procs[name], urls[name] = start(
                [*cmd, "--data-dir", str(data), *common], work / f"{name}.log", "startup complete"
            )
        seeds = [os.urandom(32) for _ in range(args.subjects)]
        auth = {}
        with httpx.Client(timeout=30) as http:
            for name, url in urls.items():
                admin = {"authorization": "Bearer " + (work / name / "admin.token").read_text().strip()}
                auth[name] = enroll_bench(http, url, admin, seeds)
        offset = 0

        def bodies(count: int, tag: str) -> Path:
            nonlocal offset
            items = sign_proofs(seeds, count, offset)
            offset += count
            path = work / f"{tag}.ndjson"
            path.write_bytes(b"\n".join(items) + b"\n")
            return path

        rows = []
        for conns in args.connections:
            warm = bodies(3000, f"warm{conns}")
            rate = 0.0
            for name in ("on", "off"):  # warm both; size the proof files from the faster one
                r = wrk(
                    urls[name] + "/v1/proofs/verify",
                    warm,
                    auth=auth[name],
                    content_type="application/json",
                    sep="line",
                    connections=conns,
                    duration=2,
                )
                rate = max(rate, r["rps"])
            runs: dict[str, list[dict]] = {"on": [], "off": []}
            for k in range(args.rounds):
                for name in ("on", "off") if k % 2 == 0 else ("off", "on"):
                    f = bodies(int(rate * args.duration * 1.5) + 500, f"r{conns}-{k}-{name}")
                    c0 = cpu_seconds(procs[name].pid)
                    r = wrk(
                        urls[name] + "/v1/proofs/verify",
                        f,
                        auth=auth[name],
                        content_type="application/json",
                        sep="line",
                        connections=conns,
                        duration=args.duration,
                    )
                    r["cpu"] = cpu_seconds(procs[name].pid) - c0
                    runs[name].append(r)
                    print(f"{conns} conn, round {k + 1}, audit {name}: {r['rps']:.0f} req/s", flush=True)
            med = {n: sorted(rs, key=lambda r: r["rps"])[len(rs) // 2] for n, rs in runs.items()}
            cpu = {n: sum(r["cpu"] for r in rs) / sum(r["total"] for r in rs) * 1e6 for n, rs in runs.items()}
            for n in ("off", "on"):
                rows.append(
                    (
                        conns,
                        n,
                        med[n]["rps"],
                        med[n]["p50"],
                        med[n]["p99"],
                        cpu[n],
                        [round(r["rps"]) for r in runs[n]],
                        sum(r["non2xx"] for r in runs[n]),
                    )
                )
            loss = 1 - med["on"]["rps"] / med["off"]["rps"]
            # Paired: the machine's load drifts between rounds; each round's on/off pair ran
            # back to back, so the median of the per-round costs is the steadier figure.
            paired = statistics.median(
                1 - a["rps"] / b["rps"] for a, b in zip(runs["on"], runs["off"], strict=True)
            )
            rows.append((conns, "cost", loss, paired, None, 1 - cpu["off"] / cpu["on"], None, None))
        entries = commits = 0  # group commit: how many entries shared one fsync
        for path in (work / "on" / "auditlog").glob("*/entries.jsonl"):
            with path.open("rb") as fh:
                for line in fh:
                    if line.startswith(b'{"commit"'):
                        commits += 1
                    else:
                        entries += 1
    finally:
        for p in procs.values():
            stop(p)
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} after; {args.rounds} rounds")
    per = entries / max(1, commits)
    print(f"audit log: {entries} entries, {commits} group commits ({per:.1f} per fsync)")
    print(
        "| connections | audit log | req/s (median) | p50 ms | p99 ms | server CPU µs/req | rounds |", end=""
    )
    print(" non-2xx |")
    print("|---:|---|---:|---:|---:|---:|---|---:|")
    for conns, n, rps, p50, p99, cpu_, rounds, non2xx in rows:
        if n == "cost":
            print(
                f"| {conns} | **throughput cost of the log** | **{rps * 100:.1f} %** "
                f"(paired rounds: {p50 * 100:.1f} %) | | | CPU share: {cpu_ * 100:.1f} % | | |"
            )
        else:
            print(
                f"| {conns} | {n} | {rps:.0f} | {p50:.2f} | {p99:.2f} | {cpu_:.0f} | "
                f"{', '.join(map(str, rounds))} | {non2xx} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

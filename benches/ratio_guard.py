"""CI ratio guard (issue 2): fails if verify_batch is slower than the PyNaCl loop.

Not a timed threshold: both are measured in this process, in interleaved
rounds on the same proofs, and only their ratio is judged, so a slow or busy
CI machine cannot fail it. Writes its report to .cache/bench/ci-latest.json
(untracked, so `make test` leaves the checkout clean; --out to choose).

    .venv/bin/python benches/ratio_guard.py            # short mode: 1,000 proofs, 5 rounds
    .venv/bin/python benches/ratio_guard.py --proofs 10000 --rounds 7

Exit status 0 when verify_batch (resolver) is at least as fast as the PyNaCl
loop (``--min-ratio``, default 1.0), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pm_verify_workload as W

# The report of the last run: untracked (.cache/ is in .gitignore), not benches/results/.
DEFAULT_OUT = Path(__file__).resolve().parent.parent / ".cache" / "bench" / "ci-latest.json"

GUARDED = ("ours_batch_resolver", "pynacl_loop")
INFORMATIVE = ("ours_single_resolver",)


def run(
    proofs: int = 1_000, rounds: int = 5, min_ratio: float = 1.0, out: Path | None = None
) -> dict[str, Any]:
    w = W.make_workload(proofs)
    W.check_peer_digests(w)
    everything = W.candidates(w, pool=None)
    fns = {name: everything[name] for name in (*GUARDED, *INFORMATIVE)}
    timings = W.interleaved_medians(fns, rounds=rounds, n=w.n)
    medians = {k: v["median_ns_per_proof"] for k, v in timings.items()}
    ratio = medians["pynacl_loop"] / medians["ours_batch_resolver"]
    report: dict[str, Any] = {
        "benchmark": "core verification ratio guard (issue 2), interleaved rounds in one process",
        "unit": "median ns per proof; ratios are throughput ours/peer",
        "machine": W.machine(),
        "workload": {"proofs": w.n, "rounds": rounds},
        "medians_ns_per_proof": {k: round(v, 1) for k, v in medians.items()},
        "samples_ns_per_proof": {
            k: [round(x, 1) for x in v["samples_ns_per_proof"]] for k, v in timings.items()
        },
        "ratios": W.ratios(medians, None),
        "guard": {
            "rule": "pynacl_loop median / ours_batch_resolver median >= min_ratio",
            "min_ratio": min_ratio,
            "ratio": round(ratio, 3),
            "passed": ratio >= min_ratio,
        },
    }
    W.write_report(out or DEFAULT_OUT, report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--proofs", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-ratio", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=None, help=f"report file (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    report = run(args.proofs, args.rounds, args.min_ratio, args.out)
    guard = report["guard"]
    for name, ns in sorted(report["medians_ns_per_proof"].items(), key=lambda kv: kv[1]):
        print(f"{name:24s} {ns / 1000:9.1f} us/proof")
    verdict = "PASS" if guard["passed"] else "FAIL"
    ratio, minimum = guard["ratio"], guard["min_ratio"]
    print(f"ratio guard {verdict}: verify_batch is {ratio:.2f}x the PyNaCl loop (minimum {minimum})")
    return 0 if guard["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

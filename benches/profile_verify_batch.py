"""A verify_batch loop to run under ``perf`` (see docs/PERFORMANCE.md, "Core verification").

    .venv/bin/python benches/pm_verify_workload.py /tmp/proofs.jsonl          # write the 10,000 proofs
    perf record -F 499 --call-graph dwarf,32768 -o /tmp/pm.perf \\
        .venv/bin/python benches/profile_verify_batch.py /tmp/proofs.jsonl 8
    perf report -i /tmp/pm.perf --no-children --sort pid      # calling thread vs rayon workers
    perf report -i /tmp/pm.perf --no-children --sort dso,sym  # hottest functions

Setup is kept cheap (proofs are read, not generated) so that the calling
thread's share of samples is the serial part of verify_batch.
"""

from __future__ import annotations

import sys
import time

import proof_messenger as pm

AUDIENCE = "payments-api"
NOW_MS = 1_780_000_000_000


def main(path: str, rounds: int) -> None:
    with open(path, "rb") as f:
        proofs = [line for line in f.read().split(b"\n") if line]
    enrolled: dict[str, list[pm.VerifyingKey]] = {}
    for data in proofs:
        proof = pm.Proof.from_json(data)
        assert proof.subject is not None
        enrolled[proof.subject] = [proof.public_key]
    for _ in range(2):
        pm.verify_batch(proofs, resolver=enrolled.get, audience=AUDIENCE, now_ms=NOW_MS)
    start = time.perf_counter()
    for _ in range(rounds):
        results = pm.verify_batch(proofs, resolver=enrolled.get, audience=AUDIENCE, now_ms=NOW_MS)
        assert all(r.valid for r in results)
        del results
    per_proof = (time.perf_counter() - start) / rounds / len(proofs)
    print(f"verify_batch: {per_proof * 1e6:.1f} us/proof over {len(proofs)} proofs x {rounds} rounds")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 8)

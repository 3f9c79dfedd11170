"""What a batch with bad signatures costs, against verifying its proofs one by one.

    .venv/bin/python benches/bench_bad_batch.py [--proofs 1000] [--rounds 5]

The bad proofs carry well-formed signatures (canonical S, a valid R, by the right key)
over another message, so they pass every check before the curve equation: the most
expensive kind to reject. For each share of bad proofs, the CPU time (all threads:
``time.process_time``) of one ``pm.verify_batch`` over all proofs is divided by that of
``pm.verify`` on each of them, measured in the same round; the table gives the median
ratio over the rounds (the issue 13 bound: about 1.2x at every share).

The second table is the relay's case: one call holding two API clients' single-proof
requests, interleaved, a victim's good proofs and an attacker's bad ones. It compares the
CPU time of that call without ``callers`` (the clients share batch equations, so each bad
proof makes its chunk's good proofs be checked one by one) and with ``callers`` and
``requests`` (as the relay passes them) against verifying each client's proofs in a call
of its own (perfect isolation): with callers the ratio should be about 1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import proof_messenger as pm

SHARES = (0.0, 0.001, 0.01, 0.05, 0.10, 0.25, 0.50, 1.0)


def _proofs(n: int) -> tuple[pm.VerifyingKey, list[bytes], list[bytes]]:
    key = pm.SigningKey.generate()
    good = [pm.sign({"i": str(i), "subject": "s"}, key, audience="x").to_json() for i in range(n)]
    bad = []
    for g in good:
        doc = json.loads(g)
        other = json.loads(pm.sign({"other": doc["nonce"], "subject": "s"}, key, audience="x").to_json())
        doc["signature"] = other["signature"]  # a real signature of this key, over another message
        bad.append(json.dumps(doc).encode())
    return key.verifying_key, good, bad


def _mix(good: list[bytes], bad: list[bytes], share: float) -> list[bytes]:
    """``share`` of the proofs bad, spread evenly (every chunk gets some)."""
    count = round(share * len(good))
    if count == 0:
        return list(good)
    step = len(good) / count
    picked = {int(k * step) for k in range(count)}
    return [bad[i] if i in picked else good[i] for i in range(len(good))]


def _cpu(f: Callable[[], object]) -> float:
    t0 = time.process_time()
    f()
    return time.process_time() - t0


def _cpu_batch(verifier: pm.Verifier, items: list[bytes], vk: pm.VerifyingKey, **kw: list[int]) -> float:
    t0 = time.process_time()
    verifier.verify_batch(items, trusted_keys=[vk], **kw)
    return time.process_time() - t0


def _isolation(vk: pm.VerifyingKey, good: list[bytes], bad: list[bytes], rounds: int) -> None:
    verifier = pm.Verifier("x")
    n = len(good)
    print(f"\n{n} single-proof requests of two clients in one call; {rounds} rounds")
    print("| attacker's bad proofs | shared / separate calls (median) | with callers / separate (median) |")
    print("|---:|---:|---:|")
    for count in (1, 10, 100):
        step = n / count
        attacker = {int(k * step) for k in range(count)}
        items = [bad[i] if i in attacker else good[i] for i in range(n)]
        callers = [1 if i in attacker else 0 for i in range(n)]
        victim_items = [items[i] for i in range(n) if i not in attacker]
        attacker_items = [items[i] for i in sorted(attacker)]
        with_callers = {"callers": callers, "requests": list(range(n))}
        expected = [r.code for r in verifier.verify_batch(items, trusted_keys=[vk])]
        assert [r.code for r in verifier.verify_batch(items, trusted_keys=[vk], **with_callers)] == expected
        assert sum(c is not None for c in expected) == count
        shared, isolated = [], []
        for _ in range(rounds):
            separate = _cpu_batch(verifier, victim_items, vk) + _cpu_batch(verifier, attacker_items, vk)
            shared.append(_cpu_batch(verifier, items, vk) / separate)
            isolated.append(_cpu_batch(verifier, items, vk, **with_callers) / separate)
        print(f"| {count} | {statistics.median(shared):.2f}x | {statistics.median(isolated):.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proofs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    vk, good, bad = _proofs(args.proofs)
    batches = {share: _mix(good, bad, share) for share in SHARES}
    for share, items in batches.items():  # the verdicts first: the benchmark measures what it claims
        results = pm.verify_batch(items, audience="x", trusted_keys=[vk])
        singles = [pm.verify(p, audience="x", trusted_keys=[vk]) for p in items]
        assert [r.code for r in results] == [r.code for r in singles]
        assert sum(not r.valid for r in results) == round(share * len(items))
    ratios: dict[float, list[float]] = {share: [] for share in SHARES}
    per_proof: dict[float, list[float]] = {share: [] for share in SHARES}
    single_costs = []
    for _ in range(args.rounds):
        for share, items in batches.items():
            one_by_one = _cpu(
                lambda items=items: [pm.verify(p, audience="x", trusted_keys=[vk]) for p in items]
            )
            batch = _cpu(lambda items=items: pm.verify_batch(items, audience="x", trusted_keys=[vk]))
            ratios[share].append(batch / one_by_one)
            per_proof[share].append(batch / len(items) * 1e6)
            single_costs.append(one_by_one / len(items) * 1e6)
    single = statistics.median(single_costs)
    print(f"{args.proofs} proofs, {args.rounds} rounds; pm.verify one by one: {single:.1f} µs CPU per proof")
    print("| bad share | verify_batch µs CPU / proof (median) | batch / one by one (median, min-max) |")
    print("|---:|---:|---:|")
    for share in SHARES:
        r = ratios[share]
        print(
            f"| {share:.1%} | {statistics.median(per_proof[share]):.1f} |"
            f" {statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f}) |"
        )
    _isolation(vk, good, bad, args.rounds)


if __name__ == "__main__":
    main()

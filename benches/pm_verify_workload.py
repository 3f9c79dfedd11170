"""Workload, peers and timing helpers for the core verification benchmark (issue 2).

Every candidate takes the same list of proof JSON bytes and returns one
verdict per proof, doing the full path from bytes to verdict, trust lookup
included:

* ``ours_single_resolver`` / ``ours_single_trusted``: ``pm.verify`` per proof;
* ``ours_batch_resolver`` / ``ours_batch_trusted``: one ``pm.verify_batch``;
* ``pynacl_loop`` / ``cryptography_loop``: json.loads + rfc8785 + hashlib +
  base64 + Ed25519 verify, in Python;
* ``pynacl_pool2``: the PyNaCl loop over halves in a 2-process pool;
* the raw Rust core (``rust/core/examples/bench_core.rs``), run as a subprocess.

Used by ``test_verify_bench.py`` (pytest-benchmark) and ``ratio_guard.py`` (CI).
"""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
import os
import platform
import random
import statistics
import struct
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import proof_messenger as pm

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

AUDIENCE = "payments-api"
NOW_MS = 1_780_000_000_000  # fixed clock: 2026-05-28
MAX_AGE_MS = 300_000
MAX_SKEW_MS = 30_000

DST = b"proof-messenger/v1/signing-payload\0"
ALGORITHM = "Ed25519"

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY", "SEK")
COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "BE", "AT")
PAYEES = ("ACME-CORP", "GLOBEX-LTD", "INITECH-GMBH", "UMBRELLA-SA", "HOOLI-INC", "STARK-IND")


# --------------------------------------------------------------------------- workload


@dataclass
class Workload:
    proofs: list[bytes]  # proof JSON as received on the wire
    subjects: list[str]
    enrolled_raw: dict[str, bytes]  # peers' key store: subject -> raw 32-byte key
    enrolled_vk: dict[str, list[pm.VerifyingKey]]  # ours: subject -> pre-built VerifyingKeys
    keys_in_order: list[pm.VerifyingKey]  # the proof's own key, by index
    signed_digests: list[bytes] = field(repr=False)

    @property
    def n(self) -> int:
        return len(self.proofs)


def make_context(rng: random.Random, i: int) -> dict[str, str]:
    """A ~200-byte wire-transfer context with varied values."""
    country = rng.choice(COUNTRIES)
    return {
        "action": "wire_transfer",
        "amount": f"{rng.randrange(1, 10_000_000)}.{rng.randrange(100):02d}",
        "currency": rng.choice(CURRENCIES),
        "from": f"{country}{rng.randrange(10, 99)}{rng.randrange(10**17, 10**18)}",
        "to": f"{rng.choice(PAYEES)}-ACCOUNT-{rng.randrange(1, 10**6)}",
        "subject": f"user-{i:05d}",
        "reference": f"INV-2026-{rng.randrange(1, 10**6):06d}",
        "memo": f"batch {rng.randrange(10**4)} of {rng.choice(('payroll', 'supplier', 'invoice', 'refund'))}",
    }


def make_workload(n: int, seed: int = 2) -> Workload:
    """``n`` proofs, each by its own key (one subject per key) with its own nonce. Deterministic."""
    rng = random.Random(seed)
    proofs: list[bytes] = []
    subjects: list[str] = []
    enrolled_raw: dict[str, bytes] = {}
    enrolled_vk: dict[str, list[pm.VerifyingKey]] = {}
    keys: list[pm.VerifyingKey] = []
    digests: list[bytes] = []
    for i in range(n):
        sk = pm.SigningKey.from_bytes(hashlib.sha256(b"bench-key/%d/%d" % (seed, i)).digest())
        nonce = base64.urlsafe_b64encode(hashlib.sha256(b"bench-nonce/%d/%d" % (seed, i)).digest()).rstrip(
            b"="
        )
        context = make_context(rng, i)
        ts = NOW_MS - rng.randrange(0, 240_000)
        proof = pm.sign(context, sk, audience=AUDIENCE, nonce=nonce.decode(), timestamp_ms=ts)
        vk = sk.verifying_key
        subject = context["subject"]
        proofs.append(proof.to_json())
        subjects.append(subject)
        enrolled_raw[subject] = vk.to_bytes()
        enrolled_vk[subject] = [vk]
        keys.append(vk)
        digests.append(proof.signed_digest)
    return Workload(proofs, subjects, enrolled_raw, enrolled_vk, keys, digests)


def check_peer_digests(w: Workload) -> None:
    """The peers must sign-check exactly the bytes the package signs."""
    for data, expected in zip(w.proofs, w.signed_digests, strict=True):
        obj = json.loads(data)
        assert peer_digest(obj, _b64url(obj["nonce"])) == expected


def write_jsonl(w: Workload, path: Path) -> Path:
    path.write_bytes(b"\n".join(w.proofs) + b"\n")
    return path


# --------------------------------------------------------------------------- peers


def _b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


_ALG_FIELD = DST + struct.pack(">H", len(ALGORITHM)) + ALGORITHM.encode()


def peer_digest(obj: dict[str, Any], nonce: bytes) -> bytes:
    """SHA-256 of the v1 signing payload, from a ``json.loads``-ed proof."""
    import rfc8785

    aud = obj["audience"].encode()
    context_digest = hashlib.sha256(rfc8785.dumps(obj["context"])).digest()
    payload = b"".join(
        (
            _ALG_FIELD,
            struct.pack(">H", len(aud)),
            aud,
            struct.pack(">QH", obj["timestamp"], len(nonce)),
            nonce,
            context_digest,
        )
    )
    return hashlib.sha256(payload).digest()


def _peer_checked(
    data: bytes, enrolled: dict[str, bytes], audience: str, now_ms: int
) -> tuple[bytes, bytes, bytes] | None:
    """Everything but the curve: parse, structure, trust, audience, freshness, digest.

    Returns (raw key, digest, signature), or None to reject.
    """
    obj = json.loads(data)
    if obj.get("version") != 1 or obj.get("algorithm") != ALGORITHM:
        return None
    context = obj["context"]
    enrolled_key = enrolled.get(context.get("subject"))
    pk = base64.b64decode(obj["publicKey"], validate=True)
    if enrolled_key is None or pk != enrolled_key:
        return None
    if obj["audience"] != audience:
        return None
    ts = obj["timestamp"]
    if not isinstance(ts, int) or ts > now_ms + MAX_SKEW_MS or now_ms > ts + MAX_AGE_MS:
        return None
    nonce = _b64url(obj["nonce"])
    if not 16 <= len(nonce) <= 64:
        return None
    sig = base64.b64decode(obj["signature"], validate=True)
    if len(sig) != 64:
        return None
    return pk, peer_digest(obj, nonce), sig


def pynacl_verify_one(data: bytes, enrolled: dict[str, bytes], audience: str, now_ms: int) -> bool:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    checked = _peer_checked(data, enrolled, audience, now_ms)
    if checked is None:
        return False
    pk, digest, sig = checked
    try:
        VerifyKey(pk).verify(digest, sig)
    except BadSignatureError:
        return False
    return True


def cryptography_verify_one(data: bytes, enrolled: dict[str, bytes], audience: str, now_ms: int) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    checked = _peer_checked(data, enrolled, audience, now_ms)
    if checked is None:
        return False
    pk, digest, sig = checked
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, digest)
    except InvalidSignature:
        return False
    return True


def pynacl_loop(
    proofs: Sequence[bytes], enrolled: dict[str, bytes], audience: str, now_ms: int
) -> list[bool]:
    return [pynacl_verify_one(p, enrolled, audience, now_ms) for p in proofs]


def cryptography_loop(
    proofs: Sequence[bytes], enrolled: dict[str, bytes], audience: str, now_ms: int
) -> list[bool]:
    return [cryptography_verify_one(p, enrolled, audience, now_ms) for p in proofs]


# 2-process pool: the key store is shipped once, at pool start (untimed); each
# timed call ships the proof bytes and gets the verdicts back.
_POOL_STATE: dict[str, Any] = {}


def _pool_init(enrolled: dict[str, bytes], audience: str, now_ms: int, ready: Any = None) -> None:
    _POOL_STATE.update(enrolled=enrolled, audience=audience, now_ms=now_ms, ready=ready)
    import nacl.signing  # noqa: F401  (warm the import)
    import rfc8785  # noqa: F401


def _pool_chunk(proofs: list[bytes]) -> list[bool]:
    s = _POOL_STATE
    return pynacl_loop(proofs, s["enrolled"], s["audience"], s["now_ms"])


def _pool_ping(_: int) -> int:
    # Holds this worker until every worker has a ping: the pings land on distinct workers.
    _POOL_STATE["ready"].wait(120)
    return os.getpid()


def start_pool(w: Workload, processes: int = 2) -> Any:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(processes)
    pool = ctx.Pool(processes, initializer=_pool_init, initargs=(w.enrolled_raw, AUDIENCE, NOW_MS, ready))
    # Make sure every worker is up (and has imported) before anything is timed: one ping
    # per worker, each waiting at the barrier for the others, so all of them answer.
    pids = pool.map(_pool_ping, range(processes), chunksize=1)
    assert len(set(pids)) == processes, pids
    return pool


def pool_verify(pool: Any, proofs: Sequence[bytes], processes: int = 2) -> list[bool]:
    per = -(-len(proofs) // processes)
    parts = [list(proofs[i : i + per]) for i in range(0, len(proofs), per)]
    out: list[bool] = []
    for part in pool.map(_pool_chunk, parts, chunksize=1):
        out.extend(part)
    return out


# --------------------------------------------------------------------------- ours


def ours_single_resolver(w: Workload) -> list[bool]:
    resolver = w.enrolled_vk.get
    return [pm.verify(p, resolver=resolver, audience=AUDIENCE, now_ms=NOW_MS).valid for p in w.proofs]


def ours_single_trusted(w: Workload) -> list[bool]:
    # The caller already knows the key to trust for this request (e.g. looked up by session).
    return [
        pm.verify(p, trusted_keys=vk, audience=AUDIENCE, now_ms=NOW_MS).valid
        for p, vk in zip(w.proofs, w.keys_in_order, strict=True)
    ]


def ours_batch_resolver(w: Workload) -> list[bool]:
    results = pm.verify_batch(w.proofs, resolver=w.enrolled_vk.get, audience=AUDIENCE, now_ms=NOW_MS)
    return [r.valid for r in results]


def ours_batch_trusted(w: Workload) -> list[bool]:
    # One flat trusted set holding every enrolled key (n keys).
    results = pm.verify_batch(w.proofs, trusted_keys=w.keys_in_order, audience=AUDIENCE, now_ms=NOW_MS)
    return [r.valid for r in results]


def candidates(w: Workload, pool: Any | None) -> dict[str, Callable[[], Any]]:
    out: dict[str, Callable[[], Any]] = {
        "ours_batch_resolver": lambda: ours_batch_resolver(w),
        "ours_batch_trusted": lambda: ours_batch_trusted(w),
        "ours_single_resolver": lambda: ours_single_resolver(w),
        "ours_single_trusted": lambda: ours_single_trusted(w),
        "pynacl_loop": lambda: pynacl_loop(w.proofs, w.enrolled_raw, AUDIENCE, NOW_MS),
        "cryptography_loop": lambda: cryptography_loop(w.proofs, w.enrolled_raw, AUDIENCE, NOW_MS),
    }
    if pool is not None:
        out["pynacl_pool2"] = lambda: pool_verify(pool, w.proofs)
    return out


# --------------------------------------------------------------------------- rust core


BUILD_RUST_CORE = [
    "cargo",
    "build",
    "--quiet",
    "--release",
    "-p",
    "proof-messenger-core",
    "--example",
    "bench_core",
]
_BINARY: list[str] = []


def rust_core_binary() -> str:
    """``PM_BENCH_CORE_BIN``, or the example built once with cargo (the build is never timed)."""
    if os.environ.get("PM_BENCH_CORE_BIN"):
        return os.environ["PM_BENCH_CORE_BIN"]
    if not _BINARY:
        subprocess.run(BUILD_RUST_CORE, cwd=REPO, check=True, timeout=1800)
        target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
        _BINARY.append(str(target / "release" / "examples" / "bench_core"))
    return _BINARY[0]


class SelfTimed(float):
    """A candidate that times itself (a subprocess): its ns/proof replaces the wall clock."""


def run_rust_core(jsonl: Path, rounds: int = 7, timeout: float = 900, quick: bool = False) -> dict[str, Any]:
    """Runs the raw-core example over the same proofs; its own JSON report.

    ``PM_BENCH_CORE_BIN`` may name a prebuilt binary (skips cargo). ``quick``:
    the batch path only, no single path or phase breakdown.
    """
    tail = [str(jsonl), "--audience", AUDIENCE, "--now-ms", str(NOW_MS), "--rounds", str(rounds)]
    if quick:
        tail.append("--quick")
    cmd = [rust_core_binary(), *tail]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["command"] = " ".join(cmd)
    report["build_command"] = " ".join(BUILD_RUST_CORE)
    return report


# --------------------------------------------------------------------------- timing & report


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter_ns()
    out = fn()
    return time.perf_counter_ns() - start, out


def rust_core_quick(jsonl: Path) -> SelfTimed:
    """One timed round of the raw Rust batch path (after one warm-up), in a subprocess."""
    return SelfTimed(run_rust_core(jsonl, rounds=1, quick=True)["batch_ns_per_proof"])


def interleaved_medians(fns: dict[str, Callable[[], Any]], rounds: int, n: int) -> dict[str, dict[str, Any]]:
    """Median ns/proof per candidate, rounds rotated so noise hits every candidate alike."""
    names = list(fns)
    samples: dict[str, list[float]] = {k: [] for k in names}
    for name in names:  # warm-up + correctness
        verdicts = fns[name]()
        if not isinstance(verdicts, SelfTimed):
            assert len(verdicts) == n and all(verdicts), f"{name}: not every proof verified"
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            ns, out = timed(fns[name])
            samples[name].append(float(out) if isinstance(out, SelfTimed) else ns / n)
    return {
        k: {"median_ns_per_proof": statistics.median(v), "samples_ns_per_proof": v}
        for k, v in samples.items()
    }


def ratios(med: dict[str, float], rust: dict[str, Any] | None) -> dict[str, Any]:
    """Throughput ratios (higher is better for ours) and the targets of issue 2."""
    out: dict[str, Any] = {}

    def ratio(key: str, slow: str, fast: str, target: float | None, lower_is_better: bool = False) -> None:
        if slow in med and fast in med:
            value = med[slow] / med[fast]
            out[key] = {"value": round(value, 3), "target": target}
            if target is not None:
                out[key]["met"] = value >= target

    ratio("batch_vs_pynacl_loop", "pynacl_loop", "ours_batch_resolver", 6.0)
    ratio("batch_vs_pynacl_pool2", "pynacl_pool2", "ours_batch_resolver", 2.5)
    ratio("single_vs_pynacl_loop", "pynacl_loop", "ours_single_resolver", 1.25)
    ratio("batch_vs_cryptography_loop", "cryptography_loop", "ours_batch_resolver", None)
    ratio("single_vs_cryptography_loop", "cryptography_loop", "ours_single_resolver", None)
    ratio("batch_trusted_vs_pynacl_loop", "pynacl_loop", "ours_batch_trusted", None)
    ratio("single_trusted_vs_pynacl_loop", "pynacl_loop", "ours_single_trusted", None)
    if rust is None and "rust_core_batch" in med:
        rust = {"batch_ns_per_proof": med["rust_core_batch"]}
    if rust and "ours_batch_resolver" in med:
        overhead = med["ours_batch_resolver"] / rust["batch_ns_per_proof"] - 1.0
        out["batch_python_overhead_vs_rust"] = {
            "value": round(overhead, 3),
            "target": "<= 0.15",
            "met": overhead <= 0.15,
        }
        if "ours_single_resolver" in med and "single_ns_per_proof" in rust:
            out["single_python_overhead_vs_rust"] = {
                "value": round(med["ours_single_resolver"] / rust["single_ns_per_proof"] - 1.0, 3),
                "target": None,
            }
    return out


def cpu_analysis(med: dict[str, float], cpu: dict[str, float], rust: dict[str, Any] | None) -> dict[str, Any]:
    """How much of the machine each path got, and what the batch ratio would be on idle cores.

    ``parallelism`` = CPU time / wall time of the process: ~2.0 means verify_batch
    had both cores, ~1.0 means other load took the second one.
    """
    out: dict[str, Any] = {}
    cores = os.cpu_count() or 1
    if "ours_batch_resolver" in cpu and "ours_batch_resolver" in med:
        out["batch_parallelism"] = round(cpu["ours_batch_resolver"] / med["ours_batch_resolver"], 2)
    if "pynacl_loop" in cpu and "pynacl_loop" in med:
        out["pynacl_loop_cpu_share"] = round(cpu["pynacl_loop"] / med["pynacl_loop"], 2)
    if "pynacl_loop" in cpu and "ours_batch_resolver" in cpu:
        per_core = cpu["pynacl_loop"] / cpu["ours_batch_resolver"]
        out["batch_vs_pynacl_cpu_cost_ratio"] = round(per_core, 3)
        out[f"batch_vs_pynacl_projected_{cores}_idle_cores"] = round(per_core * cores, 2)
    if "pynacl_loop" in cpu and "ours_single_resolver" in cpu:
        out["single_vs_pynacl_cpu_cost_ratio"] = round(cpu["pynacl_loop"] / cpu["ours_single_resolver"], 3)
    if rust and rust.get("batch_cpu_ns_per_proof") and "ours_batch_resolver" in cpu:
        out["batch_python_overhead_vs_rust_cpu"] = round(
            cpu["ours_batch_resolver"] / rust["batch_cpu_ns_per_proof"] - 1.0, 3
        )
    return out


def machine() -> dict[str, Any]:
    model, flags = "unknown", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1]
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "avx2": "avx2" in flags.split(),
        "python": platform.python_version(),
        "loadavg_at_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def write_report(path: Path, report: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


if __name__ == "__main__":
    # Write the benchmark proofs, one JSON per line: pm_verify_workload.py OUT.jsonl [N]
    import sys

    out = write_jsonl(make_workload(int(sys.argv[2]) if len(sys.argv) > 2 else 10_000), Path(sys.argv[1]))
    print(out)

"""Relay load benchmark: the full relay pipeline vs a minimal FastAPI + PyNaCl reference.

Runs on 127.0.0.1 with wrk (Debian package) as the bounded load generator, in one run:

1. relay   POST /v1/proofs/verify         (registry, rate limits, replay, audit, decision log on)
2. ref     POST /verify                   (JCS + Ed25519 only)
3. relay   POST /v1/proofs/verify-batch   (NDJSON, --batch-size proofs per request)

Every request carries a distinct, fresh, validly signed proof for one of --subjects
enrolled users; after each relay run the harness reads /metrics and reports how many
verdicts were valid (a wrapped body list would show up as nonce_replayed).

    .venv/bin/python benches/relay/bench.py                 # defaults: 10 s runs, uvicorn
    .venv/bin/python benches/relay/bench.py --server granian
    .venv/bin/python benches/relay/bench.py --baseline ../old/.venv/bin/python   # before/after

``--baseline PYTHON`` also runs the relay of another checkout (its virtualenv's
interpreter) in every round, on the same proofs, right after this one: a change is
measured against the code before it in the same run, as paired rounds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PY = sys.executable
AUDIENCE = "payments-api"


@dataclass
class Result:
    name: str
    requests_per_s: float
    proofs_per_s: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_proof: float
    non_2xx: int
    valid: int | None = None
    invalid: int | None = None
    rounds: list[float] | None = None


# --- proofs ----------------------------------------------------------------------


def _sign_chunk(args: tuple[list[bytes], int, int, int]) -> list[bytes]:
    import proof_messenger as pm

    seeds, start, count, n_subjects = args
    keys = [pm.SigningKey.from_bytes(s) for s in seeds]
    out = []
    for i in range(start, start + count):
        s = i % n_subjects
        context = {
            "action": "wire_transfer",
            "amount": f"{(i % 9000) + 100}.00",
            "currency": "EUR",
            "to": "DE89370400440532013000",
            "reference": f"INV-{i:08d}",
            "subject": f"user{s}",
        }
        out.append(pm.sign(context, keys[s], audience=AUDIENCE).to_json())
    return out


def sign_proofs(seeds: list[bytes], count: int, offset: int) -> list[bytes]:
    procs = os.cpu_count() or 1
    per = -(-count // procs)
    jobs = [
        (seeds, offset + k * per, min(per, count - k * per), len(seeds))
        for k in range(procs)
        if count - k * per > 0
    ]
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        chunks = pool.map(_sign_chunk, jobs)
    return [p for chunk in chunks for p in chunk]


# --- servers -----------------------------------------------------------------------


def start(
    cmd: list[str], log: Path, ready: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    fh = log.open("wb")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=fh, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        m = re.search(r"(http://127\.0\.0\.1:\d+)", text)
        if ready in text and m:
            return proc, m.group(1)
        if proc.poll() is not None:
            raise RuntimeError(text)
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(log.read_text())


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def enroll_bench(http: httpx.Client, url: str, admin: dict[str, str], seeds: list[bytes]) -> str:
    """Creates the benchmark's API client and enrolls ``user<i>`` with seed i; returns the
    client's ``Authorization`` value."""
    import proof_messenger as pm

    r = http.post(f"{url}/v1/admin/clients", json={"name": "bench", "audience": AUDIENCE}, headers=admin)
    assert r.status_code == 201, r.text
    auth = "Bearer " + r.json()["apiKey"]
    for i, seed in enumerate(seeds):
        vk = pm.SigningKey.from_bytes(seed).verifying_key
        r = http.post(
            f"{url}/v1/admin/keys", json={"subject": f"user{i}", "publicKey": vk.to_base64()}, headers=admin
        )
        assert r.status_code == 201, r.text
    return auth


def cpu_seconds(pid: int) -> float:
    """user+system CPU of a process, its threads and its live worker processes."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(c)) for c in children)


def wait_idle(pid: int, *, timeout_s: float = 10.0) -> None:
    """Waits until a server uses under 5 % of a core (its queued work done), so the next
    measured run does not share the machine with the previous one's tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        c0 = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - c0 < 0.025:
            return


def verdict_counts(decision_log: Path) -> tuple[int, int]:
    """(valid, invalid) decisions so far, from the relay's decision log (one JSON line
    per verdict; every worker writes it)."""
    valid = invalid = 0
    if decision_log.exists():
        with decision_log.open("rb") as fh:
            for line in fh:
                if b'"valid":true' in line:
                    valid += 1
                elif b'"valid":false' in line:
                    invalid += 1
    return valid, invalid


# --- load ----------------------------------------------------------------------------


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    assert m, text
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(
    url: str, bodies: Path, *, auth: str, content_type: str, sep: str, connections: int, duration: int
) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk (the load generator) is not installed: scripts/setup.sh --bench")
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "30s",
        "-s",
        str(HERE / "bodies.lua"),
        url,
        "--",
        str(bodies),
        auth,
        content_type,
        sep,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": int(m.group(1)) if m else 0,
        "total": total,
        "raw": out,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per single-proof round")
    ap.add_argument(
        "--rounds", type=int, default=3, help="alternating relay/reference rounds (median reported)"
    )
    ap.add_argument("--batch-duration", type=int, default=5, help="seconds per batch round")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--batch-connections", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--server", default="uvicorn", choices=["uvicorn", "granian"])
    ap.add_argument(
        "--workers", type=int, default=1, help="processes for the relay and for the reference alike"
    )
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument(
        "--baseline",
        metavar="PYTHON",
        help="also measure the relay of another checkout (its venv's python) in every round",
    )
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument(
        "--relay-arg",
        action="append",
        default=[],
        help="extra relay flag (repeatable), e.g. --relay-arg=--no-audit-fsync",
    )
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("wrk is required (apt-get install wrk)", file=sys.stderr)
        return 2

    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="pm-relay-bench-"))
    results: list[Result] = []
    batch_ref: dict[str, dict] = {}
    relays: list[dict] = []
    ref = None
    try:

        def start_relay(name: str, python: str) -> dict:
            data = work / f"data-{name}"
            proc, url = start(
                [
                    python,
                    "-m",
                    "proof_messenger.relay",
                    "--port",
                    "0",
                    "--data-dir",
                    str(data),
                    "--allow-root",
                    "--server",
                    args.server,
                    "--decision-log",
                    str(work / f"decisions-{name}.log"),
                    "--rate-limit-client",
                    "1000000/second",
                    "--rate-limit-subject",
                    "100000/minute",
                    "--max-batch-count",
                    str(max(1000, args.batch_size)),
                    "--workers",
                    str(args.workers),
                    *args.relay_arg,
                ],
                work / f"{name}.log",
                "startup complete" if args.server == "uvicorn" else "listening",
            )
            return {
                "name": name,
                "proc": proc,
                "url": url,
                "data": data,
                "log": work / f"decisions-{name}.log",
            }

        relays = [start_relay("relay", PY)]
        if args.baseline:
            relays.append(start_relay("baseline", args.baseline))
        ref, ref_url = start(
            [
                PY,
                "-m",
                "uvicorn",
                "reference_app:app",
                "--app-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "info",
                *(["--workers", str(args.workers)] if args.workers > 1 else []),
            ],
            work / "ref.log",
            "Uvicorn running" if args.workers == 1 else "Application startup complete",
        )
        seeds = [os.urandom(32) for _ in range(args.subjects)]
        with httpx.Client(timeout=30) as http:
            for rl in relays:
                admin = {"authorization": "Bearer " + (rl["data"] / "admin.token").read_text().strip()}
                rl["auth"] = enroll_bench(http, rl["url"], admin, seeds)
        offset = 0

        def fresh(count: int) -> list[bytes]:
            nonlocal offset
            out = sign_proofs(seeds, count, offset)
            offset += count
            return out

        def write(name: str, items: list[bytes], sep: bytes) -> Path:
            path = work / name
            path.write_bytes(sep.join(items) + sep)
            return path

        def measure(
            url: str, pid: int, bodies: Path, auth_: str, ctype: str, sep: str, conns: int, secs: int
        ) -> dict:
            c0 = cpu_seconds(pid)
            r = wrk(url, bodies, auth=auth_, content_type=ctype, sep=sep, connections=conns, duration=secs)
            r["cpu"] = cpu_seconds(pid) - c0
            return r

        # warm every server and estimate the relay's rate, to sign enough distinct proofs
        warm = write("warm.ndjson", fresh(4000), b"\n")
        rates = [
            measure(
                rl["url"] + "/v1/proofs/verify",
                rl["proc"].pid,
                warm,
                rl["auth"],
                "application/json",
                "line",
                args.connections,
                2,
            )["rps"]
            for rl in relays
        ]
        rates.append(
            measure(ref_url + "/verify", ref.pid, warm, "", "application/json", "line", args.connections, 2)[
                "rps"
            ]
        )
        rate = max(rates)
        single_rounds: dict[str, list[dict]] = {f"{rl['name']} verify": [] for rl in relays}
        single_rounds["reference verify"] = []
        before = {rl["name"]: verdict_counts(rl["log"]) for rl in relays}
        ref_bodies = work / "none"
        for k in range(args.rounds):
            f = ref_bodies = write(f"round{k}.ndjson", fresh(int(rate * args.duration * 1.8) + 1000), b"\n")
            last = ref.pid
            # The same proofs for each relay (their nonce stores are their own), in alternating
            # order, so that neither always runs first after the reference.
            for rl in relays if k % 2 == 0 else relays[::-1]:
                wait_idle(last)
                single_rounds[f"{rl['name']} verify"].append(
                    measure(
                        rl["url"] + "/v1/proofs/verify",
                        rl["proc"].pid,
                        f,
                        rl["auth"],
                        "application/json",
                        "line",
                        args.connections,
                        args.duration,
                    )
                )
                last = rl["proc"].pid
            wait_idle(last)
            single_rounds["reference verify"].append(
                measure(
                    ref_url + "/verify",
                    ref.pid,
                    f,
                    "",
                    "application/json",
                    "line",
                    args.connections,
                    args.duration,
                )
            )
            print(
                f"round {k + 1}: "
                + ", ".join(
                    f"{name.split()[0]} {runs[-1]['rps']:.0f} req/s" for name, runs in single_rounds.items()
                ),
                flush=True,
            )
        after = {rl["name"]: verdict_counts(rl["log"]) for rl in relays}
        for name, runs in single_rounds.items():
            med = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
            total = sum(r["total"] for r in runs)
            res = Result(
                name,
                med["rps"],
                med["rps"],
                med["p50"],
                med["p99"],
                sum(r["cpu"] for r in runs) / total * 1e6,
                sum(r["non2xx"] for r in runs),
                rounds=[round(r["rps"]) for r in runs],
            )
            who = name.split()[0]
            if who in after:
                res.valid, res.invalid = after[who][0] - before[who][0], after[who][1] - before[who][1]
            results.append(res)

        if not args.skip_batch:

            def batch_file(name: str, proofs: list[bytes]) -> Path:
                size = args.batch_size
                return write(
                    name, [b"\n".join(proofs[k : k + size]) for k in range(0, len(proofs), size)], b"\0"
                )

            def measure_batch(rl: dict, bodies: Path, secs: int) -> dict:
                url = rl["url"] + "/v1/proofs/verify-batch"
                return measure(
                    url,
                    rl["proc"].pid,
                    bodies,
                    rl["auth"],
                    "application/x-ndjson",
                    "nul",
                    args.batch_connections,
                    secs,
                )

            f = batch_file("warm-batch.bin", fresh(args.batch_size * 3))
            r = measure_batch(relays[0], f, 1)
            for rl in relays[1:]:
                measure_batch(rl, f, 1)
            n_batches = int(r["rps"] * args.batch_duration * 2) + args.batch_connections + 2
            size = args.batch_size
            batch_rounds: dict[str, list[dict]] = {rl["name"]: [] for rl in relays}
            for k in range(args.rounds):
                # Each batch round is followed by a reference round, as the single-proof rounds
                # are, so that a ratio compares runs under the same machine load.
                f = batch_file(f"batch{k}.bin", fresh(n_batches * size))
                last = ref.pid
                for rl in relays if k % 2 == 0 else relays[::-1]:
                    wait_idle(last)
                    before_ = verdict_counts(rl["log"])
                    r = measure_batch(rl, f, args.batch_duration)
                    after_ = verdict_counts(rl["log"])
                    r["valid"], r["invalid"] = after_[0] - before_[0], after_[1] - before_[1]
                    batch_rounds[rl["name"]].append(r)
                    last = rl["proc"].pid
                wait_idle(last)
                ref_run = measure(
                    ref_url + "/verify",
                    ref.pid,
                    ref_bodies,
                    "",
                    "application/json",
                    "line",
                    args.connections,
                    args.duration,
                )
                for rounds_ in batch_rounds.values():
                    rounds_[-1]["ref"] = ref_run
                print(
                    f"batch round {k + 1}: "
                    + ", ".join(f"{n} {rs[-1]['rps'] * size:.0f} proofs/s" for n, rs in batch_rounds.items())
                    + f", reference {ref_run['rps']:.0f} proofs/s",
                    flush=True,
                )
            for who, rounds_ in batch_rounds.items():
                med = sorted(rounds_, key=lambda r: r["rps"])[len(rounds_) // 2]
                res = Result(
                    f"{who} verify-batch ({size}/request)",
                    med["rps"],
                    med["rps"] * size,
                    med["p50"],
                    med["p99"],
                    sum(r["cpu"] for r in rounds_) / max(1, sum(r["total"] for r in rounds_) * size) * 1e6,
                    sum(r["non2xx"] for r in rounds_),
                    sum(r["valid"] for r in rounds_),
                    sum(r["invalid"] for r in rounds_),
                    rounds=[round(r["rps"] * size) for r in rounds_],
                )
                refs = [r["ref"] for r in rounds_]
                batch_ref[who] = {
                    "paired": statistics.median(r["rps"] * size / r["ref"]["rps"] for r in rounds_),
                    "cpu": sum(x["cpu"] for x in refs) / sum(x["total"] for x in refs) * 1e6,
                    "rounds": [round(x["rps"]) for x in refs],
                    "rps": [r["rps"] * size for r in rounds_],
                }
                results.append(res)
    finally:
        for p in [*(rl["proc"] for rl in relays), ref]:
            if p is not None:
                stop(p)
        shutil.rmtree(work, ignore_errors=True)

    ref_rps = next(r.proofs_per_s for r in results if r.name == "reference verify")
    cpu = platform.processor() or "cpu"
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    print()
    print(
        f"{os.cpu_count()} cores ({cpu}); load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; relay on {args.server}, {args.workers} process(es) each; "
        f"wrk -t1, {args.connections} connections single / {args.batch_connections} batch; "
        f"{args.subjects} enrolled subjects; {args.rounds} alternating rounds"
    )
    print(
        "| run | requests/s | proofs/s | vs reference | p50 ms | p99 ms | server CPU per proof "
        "| rounds req/s | valid / invalid |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in results:
        vv = "-" if r.valid is None else f"{r.valid} / {r.invalid}"
        rounds = "-" if r.rounds is None else ", ".join(map(str, r.rounds))
        print(
            f"| {r.name} | {r.requests_per_s:,.0f} | {r.proofs_per_s:,.0f} "
            f"| {r.proofs_per_s / ref_rps:.2f}x | "
            f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.cpu_us_per_proof:.0f} µs | {rounds} | {vv} |"
        )
    ref_runs = next((r.rounds for r in results if r.name == "reference verify"), None)
    ref_cpu = next(r.cpu_us_per_proof for r in results if r.name == "reference verify")
    single: dict[str, list[int]] = {}
    for who in ("relay", "baseline"):
        runs = next((r.rounds for r in results if r.name == f"{who} verify"), None)
        if not runs or not ref_runs:
            continue
        single[who] = runs
        # Each round ran the relay(s) and then the reference back to back; the median of the
        # per-round ratios is steadier than the ratio of medians when the machine's load drifts.
        paired = statistics.median(a / b for a, b in zip(runs, ref_runs, strict=True) if b)
        cpu_us = next(r.cpu_us_per_proof for r in results if r.name == f"{who} verify")
        print(
            f"single proof, {who} vs reference: {paired:.2f}x (median of paired rounds), "
            f"{ref_cpu / cpu_us:.2f}x (reference CPU per proof / {who} CPU per proof)"
        )
        b = next((r for r in results if r.name.startswith(f"{who} verify-batch")), None)
        if b is not None and who in batch_ref:
            br = batch_ref[who]
            print(
                f"verify-batch proofs/s, {who} vs reference: {br['paired']:.2f}x (median of paired rounds; "
                f"reference rounds {', '.join(map(str, br['rounds']))} req/s), "
                f"{br['cpu'] / b.cpu_us_per_proof:.2f}x (reference CPU per proof "
                f"{br['cpu']:.0f} µs / {who} {b.cpu_us_per_proof:.0f} µs)"
            )
    if "baseline" in single:
        now = statistics.median(a / b for a, b in zip(single["relay"], single["baseline"], strict=True) if b)
        print(f"single proof, relay vs baseline: {now:.2f}x (median of paired rounds)")
        if "baseline" in batch_ref:
            nb = statistics.median(
                a / b
                for a, b in zip(batch_ref["relay"]["rps"], batch_ref["baseline"]["rps"], strict=True)
                if b
            )
            print(f"verify-batch, relay vs baseline: {nb:.2f}x (median of paired rounds)")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Mutation testing of the security-critical code listed in mutants.toml.

    .venv/bin/python scripts/mutants.py         # every file (make mutants): docs/TESTING.md's figures
    .venv/bin/python scripts/mutants.py --ci    # the `ci = true` files; exit 1 on a survivor not accepted
    .venv/bin/python scripts/mutants.py --file rust/relay/src/claims.rs   # just these

Rust files go to cargo-mutants (one run for all of them, in its own copy of the
tree), Python files to cosmic-ray (in a scratch copy of the package and its tests,
imported first through PYTHONPATH: the working tree is never mutated). The
results are printed as a table per file (mutants, killed, survived, timed out,
unviable) and written to .cache/mutants/report.json; every survivor is listed
with its diff or its description, and with the reason if mutants.toml accepts it.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport (a dependency of the relay extra there)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".cache" / "mutants"
PY = sys.executable


@dataclass
class FileResult:
    file: str
    tool: str
    mutants: int = 0
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    accepted: list[dict[str, str]] = field(default_factory=list)
    timeout: int = 0
    unviable: int = 0
    seconds: float = 0.0
    equivalent: int = 0  # skipped before running: equivalent by construction (see equivalent_regions)
    why: str = ""


def load(ci: bool, only: list[str]) -> tuple[list[dict], list[dict], list[dict]]:
    spec = tomllib.loads((ROOT / "mutants.toml").read_text())

    def pick(items: list[dict]) -> list[dict]:
        if only:
            return [t for t in items if t["file"] in only]
        return [t for t in items if t.get("ci") or not ci]

    rust, python = pick(spec.get("rust", [])), pick(spec.get("python", []))
    if only and len(rust) + len(python) != len(set(only)):
        known = {t["file"] for t in spec.get("rust", []) + spec.get("python", [])}
        raise SystemExit(f"not in mutants.toml: {sorted(set(only) - known)}")
    return rust, python, spec.get("accepted", [])


def accept(result: FileResult, accepted: list[dict]) -> None:
    """Moves the survivors mutants.toml accepts (by file and a substring of the description)."""
    keep = []
    for s in result.survived:
        reason = next((a for a in accepted if a["file"] == result.file and a["mutant"] in s), None)
        if reason is None:
            keep.append(s)
        else:
            result.accepted.append({"mutant": s, "why": reason["why"]})
    result.survived = keep


# --- Rust: cargo-mutants -------------------------------------------------------------------


def run_rust(targets: list[dict], jobs: int) -> list[FileResult]:
    if not targets:
        return []
    out = OUT / "rust"
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["cargo", "mutants", "--no-shuffle", "--jobs", str(jobs), "--output", str(out)]
    for package in sorted({t["package"] for t in targets}):
        cmd += ["--package", package]
    for t in targets:
        cmd += ["--file", t["file"]]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, check=False)
    seconds = time.monotonic() - started
    # cargo-mutants exits 2 when mutants survive, 3 on timeouts, 4 when the unmutated tree fails.
    if done.returncode not in (0, 2, 3):
        raise SystemExit(f"cargo mutants failed (exit {done.returncode}): the unmutated tests must pass")
    listing = out / "mutants.out"
    results = {t["file"]: FileResult(t["file"], "cargo-mutants") for t in targets}

    def lines(name: str) -> list[str]:
        path = listing / name
        return [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    for name, kind in (("caught.txt", "killed"), ("missed.txt", "survived"), ("timeout.txt", "timeout"),
                       ("unviable.txt", "unviable")):  # fmt: skip
        for line in lines(name):
            file = line.split(":", 1)[0]
            r = results.get(file)
            if r is None:
                continue
            r.mutants += 1
            if kind == "killed":
                r.killed += 1
            elif kind == "survived":
                r.survived.append(line)
            elif kind == "timeout":
                r.timeout += 1
            else:
                r.unviable += 1
    for r in results.values():
        r.seconds = seconds / len(results)
    return list(results.values())


# --- Python: cosmic-ray ----------------------------------------------------------------------


def scratch_tree() -> Path:
    """A copy of the package (with its built extension), the tests and what they read."""
    tree = OUT / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    for name in ("python", "tests", "examples", "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, tree / name)
    return tree


Region = tuple[tuple[int, int], tuple[int, int], str]


def _spans(node: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
    return (node.lineno, node.col_offset), (node.end_lineno or node.lineno, node.end_col_offset or 0)


def equivalent_regions(source: str) -> list[Region]:
    """Where a mutant cannot change what the code does, by construction: annotations (the
    package uses ``from __future__ import annotations``: they are strings, never evaluated),
    the ``*`` or ``/`` markers of a parameter list (every call passes those arguments by
    keyword, which the markers only constrain), and the methods of a ``Protocol`` (interface
    declarations whose body is ``...``: never called)."""
    tree = ast.parse(source)
    future = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    if not any(a.name == "annotations" for n in future for a in n.names):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(
            (isinstance(b, ast.Name) and b.id == "Protocol") for b in node.bases
        ):
            for item in node.body:
                stub = isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and all(
                    isinstance(x, ast.Expr) and isinstance(x.value, ast.Constant) for x in item.body
                )
                if stub:
                    out.append((*_spans(item), "protocol"))
        if isinstance(node, ast.arg) and node.annotation is not None:
            out.append((*_spans(node.annotation), "annotation"))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.returns is not None:
                out.append((*_spans(node.returns), "annotation"))
            # the signature, from the name to the first statement, minus its default values
            body = node.body[0]
            start = (node.lineno, node.col_offset)
            end = (body.lineno, body.col_offset)
            defaults = [_spans(d) for d in (*node.args.defaults, *node.args.kw_defaults) if d is not None]
            out.append((start, end, "signature:" + repr(defaults)))
        elif isinstance(node, ast.AnnAssign):
            out.append((*_spans(node.annotation), "annotation"))
    return out


def equivalent(mutation: dict, source: str, regions: list[Region]) -> str | None:
    start, end = tuple(mutation["start_pos"]), tuple(mutation["end_pos"])
    for a, b, kind in regions:
        if not (a <= start and end <= b):
            continue
        if kind == "annotation":
            return "in an annotation (never evaluated)"
        if kind == "protocol":
            return "in a Protocol's method declaration (never called)"
        defaults = ast.literal_eval(kind.split(":", 1)[1])
        if any(d0 <= start and end <= d1 for d0, d1 in defaults):
            continue  # a default value is code
        line = source.splitlines()[start[0] - 1]
        if line[start[1] : end[1]] in ("*", "/"):
            return "a keyword-only or positional-only marker (callers pass those by keyword)"
    return None


def skip_equivalent(session: Path, module: Path) -> int:
    """Marks the mutants of ``equivalent_regions`` as skipped; returns how many."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    source = module.read_text()
    regions = equivalent_regions(source)
    skipped = 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item in list(db.work_items):
            m = item.mutations[0]
            why = equivalent({"start_pos": m.start_pos, "end_pos": m.end_pos}, source, regions)
            if why is not None:
                db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=why))
                skipped += 1
    return skipped


def run_python(targets: list[dict]) -> list[FileResult]:
    if not targets:
        return []
    tree = scratch_tree()
    env = {**os.environ, "PYTHONPATH": str(tree / "python"), "PYTHONDONTWRITEBYTECODE": "1"}
    results = []
    for t in targets:
        r = FileResult(t["file"], "cosmic-ray")
        name = t["file"].replace("/", "_")
        test_command = f"{PY} -m pytest -x -q -p no:cacheprovider " + " ".join(t["tests"])
        started = time.monotonic()
        baseline = subprocess.run(test_command.split(), cwd=tree, env=env, capture_output=True, text=True)
        if baseline.returncode != 0:
            raise SystemExit(f"{t['file']}: the unmutated tests fail:\n{baseline.stdout[-3000:]}")
        timeout = max(60.0, 4 * (time.monotonic() - started))
        config = OUT / f"{name}.toml"
        session = OUT / f"{name}.sqlite"
        session.unlink(missing_ok=True)
        config.write_text(
            "[cosmic-ray]\n"
            f"module-path = {json.dumps(t['file'])}\n"
            f"timeout = {timeout:.0f}\n"
            "excluded-modules = []\n"
            f"test-command = {json.dumps(test_command)}\n"
            "[cosmic-ray.distributor]\n"
            'name = "local"\n'
        )
        cr = str(Path(PY).parent / "cosmic-ray")
        subprocess.run([cr, "init", str(config), str(session)], cwd=tree, env=env, check=True)
        subprocess.run(
            [str(Path(PY).parent / "cr-filter-pragma"), str(session)], cwd=tree, env=env, check=True
        )
        r.equivalent = skip_equivalent(session, tree / t["file"])
        subprocess.run([cr, "exec", str(config), str(session)], cwd=tree, env=env, check=True)
        dump = subprocess.run(
            [cr, "dump", str(session)], cwd=tree, env=env, check=True, capture_output=True, text=True
        )
        for line in dump.stdout.splitlines():
            item, result = json.loads(line)
            if result is None or result.get("worker_outcome") == "skipped":
                continue
            r.mutants += 1
            outcome = result.get("test_outcome")
            if result.get("worker_outcome") == "no-test":
                r.unviable += 1
            elif outcome == "killed":
                r.killed += 1
            elif outcome == "survived":
                m = item["mutations"][0]
                where = f"{m['module_path']}:{m['start_pos'][0]}: {m['operator_name']} #{m['occurrence']}"
                r.survived.append(where + "\n" + "\n".join((result.get("diff") or "").splitlines()[2:]))
            else:  # incompetent: the mutant does not even import
                r.unviable += 1
        r.seconds = time.monotonic() - started
        results.append(r)
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ci", action="store_true", help="only the ci = true files; fail on any survivor")
    ap.add_argument("--file", action="append", default=[], help="only this file (repeatable)")
    ap.add_argument("--jobs", type=int, default=2, help="cargo-mutants build jobs")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rust, python, accepted = load(args.ci, args.file)
    results = run_rust(rust, args.jobs) + run_python(python)
    for r in results:
        accept(r, accepted)
        r.why = next(t["why"] for t in rust + python if t["file"] == r.file)
    (OUT / "report.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(
        "\n| file | tool | mutants | killed | survived | accepted | timeout | unviable | skipped | minutes |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| `{r.file}` | {r.tool} | {r.mutants} | {r.killed} | {len(r.survived)} | {len(r.accepted)} "
            f"| {r.timeout} | {r.unviable} | {r.equivalent} | {r.seconds / 60:.1f} |"
        )
    survivors = [(r.file, s) for r in results for s in r.survived]
    for r in results:
        for a in r.accepted:
            print(f"\naccepted in {r.file}: {a['mutant']}\n  why: {a['why']}")
    for file, s in survivors:
        print(f"\nSURVIVED in {file}:\n{s}")
    if survivors and (args.ci or args.file):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

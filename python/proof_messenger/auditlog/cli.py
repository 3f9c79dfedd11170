"""``proof-messenger audit ...``: the auditor's command line (also ``python -m proof_messenger.auditlog``).

    audit verify DATA_DIR [--checkpoint FILE ...] [--public-key VKEY|FILE ...] [--decrypt-key FILE] [--json]
    audit receipt RECEIPT.json --public-key VKEY [--checkpoint FILE] [--log-dir DIR]
    audit public-key DATA_DIR
    audit new-encryption-key

Exit status: 0 all verified, 1 tampering or a failed check, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .auditor import (
    Finding,
    LogReport,
    Progress,
    audit_data_dir,
    find_logs,
    read_checkpoint_files,
    verify_receipt,
)
from .crypt import Keyring, generate_key
from .log import PUB
from .note import NoteError, parse_verifiers


class ProgressBar:
    """A one-line progress bar on stderr (no dependency)."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < 0.2:
            return
        self.last = now
        frac = done / total if total else 1.0
        fill = int(frac * self.width)
        rate = done / max(now - self.start, 1e-9)
        eta = (total - done) / rate if rate else 0.0
        bar = "#" * fill + "." * (self.width - fill)
        self.stream.write(f"\r{self.label} [{bar}] {frac:4.0%} {rate / 1e6:6.1f} MB/s ETA {eta:4.0f}s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _finding_text(f: Finding) -> str:
    at = f" [index {f.index}]" if f.index is not None else ""
    return f"{f.kind}: {f.message}{at}"


def _print_report(r: LogReport, out: TextIO) -> None:
    head = f"{r.directory}: {r.origin or '?'}"
    if r.ok:
        print(
            f"{head}\n  OK: {r.entries} entries; {r.checkpoints} checkpoint signatures verified; "
            f"tree reproduced up to size {r.verified_size}",
            file=out,
        )
    else:
        print(f"{head}\n  TAMPERED OR DAMAGED (first bad entry: {r.first_bad_index})", file=out)
        for f in r.findings:
            print(f"  - {_finding_text(f)}", file=out)
    for note in r.notes:
        print(f"  note: {note}", file=out)


def _report_json(r: LogReport) -> dict[str, Any]:
    return {
        "directory": str(r.directory),
        "origin": r.origin,
        "ok": r.ok,
        "entries": r.entries,
        "checkpoints": r.checkpoints,
        "verifiedSize": r.verified_size,
        "firstBadIndex": r.first_bad_index,
        "findings": [{"kind": f.kind, "message": f.message, "index": f.index} for f in r.findings],
        "notes": r.notes,
    }


def _verify(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    if not find_logs(data_dir):
        print(f"no audit log under {data_dir}", file=sys.stderr)
        return 2
    try:
        trusted = parse_verifiers(args.public_key) if args.public_key else None
        external = read_checkpoint_files(args.checkpoint)
        keyring = Keyring.from_file(args.decrypt_key) if args.decrypt_key else None
    except (OSError, ValueError, NoteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def progress(d: Path) -> Progress | None:
        show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
        return ProgressBar(f"auditing {d.name}") if show else None

    started = time.monotonic()
    reports, orphans = audit_data_dir(
        data_dir, trusted=trusted, external=external, keyring=keyring, progress=progress
    )
    elapsed = time.monotonic() - started
    ok = all(r.ok for r in reports) and not orphans
    if args.json:
        doc = {
            "ok": ok,
            "seconds": round(elapsed, 3),
            "logs": [_report_json(r) for r in reports],
            "findings": [{"kind": f.kind, "message": f.message} for f in orphans],
        }
        print(json.dumps(doc, indent=1))
    else:
        for r in reports:
            _print_report(r, sys.stdout)
        for f in orphans:
            print(f"- {_finding_text(f)}")
        total = sum(r.entries for r in reports)
        verdict = "verified" if ok else "FAILED"
        print(f"{verdict}: {len(reports)} log(s), {total} entries in {elapsed:.2f}s")
    return 0 if ok else 1


def _receipt(args: argparse.Namespace) -> int:
    try:
        receipt = json.loads(Path(args.receipt).read_text())
        if "receipt" in receipt and isinstance(receipt["receipt"], dict):  # a whole verify response
            receipt = receipt["receipt"]
        trusted = parse_verifiers(args.public_key)
        checkpoint = None
        if args.checkpoint:
            notes = read_checkpoint_files([args.checkpoint])
            mine = [n for n, _ in notes if n.split("\n", 1)[0] == receipt.get("origin")]
            if not mine:
                print(
                    f"error: no checkpoint for {receipt.get('origin')!r} in {args.checkpoint}",
                    file=sys.stderr,
                )
                return 2
            checkpoint = max(mine, key=lambda n: int(n.split("\n")[1]))
    except (OSError, ValueError, NoteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    check = verify_receipt(
        receipt, trusted=trusted, checkpoint=checkpoint, log_dir=Path(args.log_dir) if args.log_dir else None
    )
    print(("OK: " if check.ok else "FAILED: ") + check.message)
    if check.entry is not None:
        e = check.entry
        print(
            f"  {e.get('decision')} ({e.get('reason')}) subject={e.get('subject')} keyId={e.get('keyId')} "
            f"audience={e.get('audience')} signedDigest={e.get('signedDigest')} time={e.get('time')}"
        )
    return 0 if check.ok else 1


def _public_key(args: argparse.Namespace) -> int:
    logs = find_logs(Path(args.data_dir))
    if not logs:
        print(f"no audit log under {args.data_dir}", file=sys.stderr)
        return 2
    for d in logs:
        print((d / PUB).read_text().strip())
    return 0


def build_parser(prog: str = "proof-messenger audit") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Verify the relay's Merkle audit log offline.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="rebuild every log and check it against its signed checkpoints")
    v.add_argument("data_dir", metavar="DATA_DIR", help="relay data dir, its auditlog/ dir, or one log dir")
    v.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="signed checkpoints from elsewhere (witness file, saved checkpoint, receipt); repeatable",
    )
    v.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="VKEY|FILE",
        help="trusted log key(s), vkey format; default: log.pub of each log (trust on first use)",
    )
    v.add_argument("--decrypt-key", metavar="FILE", help="audit key file: also open every sealed context")
    v.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )
    v.add_argument("--json", action="store_true", help="machine-readable report")
    v.set_defaults(func=_verify)
    r = sub.add_parser("receipt", help="verify one receipt offline")
    r.add_argument("receipt", metavar="RECEIPT", help="receipt JSON (or a verify response holding one)")
    r.add_argument(
        "--public-key", action="append", required=True, metavar="VKEY|FILE", help="trusted log key(s)"
    )
    r.add_argument("--checkpoint", metavar="FILE", help="verify against this (newer) checkpoint instead")
    r.add_argument("--log-dir", metavar="DIR", help="log directory, to compute a proof for --checkpoint")
    r.set_defaults(func=_receipt)
    k = sub.add_parser("public-key", help="print the vkey of every log (to pin with --public-key)")
    k.add_argument("data_dir", metavar="DATA_DIR")
    k.set_defaults(func=_public_key)
    e = sub.add_parser("new-encryption-key", help="print a fresh AES-256 key for the audit key file")
    e.set_defaults(func=lambda _a: print(generate_key()) or 0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    code: int = args.func(args)
    return code

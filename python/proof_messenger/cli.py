"""The ``proof-messenger`` command.

    proof-messenger relay [--host --port --data-dir --config --redis-url --demo ...]
    proof-messenger audit verify [--data-dir DIR | FILE]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _audit_verify(args: argparse.Namespace) -> int:
    from .relay.audit import AuditChainError, verify_chain

    path = Path(args.file) if args.file else Path(args.data_dir) / "audit" / "decisions.jsonl"
    try:
        n = verify_chain(path)
    except FileNotFoundError:
        print(f"no audit log at {path}", file=sys.stderr)
        return 2
    except AuditChainError as exc:
        print(f"{path}: BROKEN: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: {n} entries, hash chain intact")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="proof-messenger", description="proof-messenger command-line tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("relay", help="run the Relay Server (see: proof-messenger relay --help)", add_help=False)
    audit = sub.add_parser("audit", help="inspect the relay's audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain of the audit log")
    verify.add_argument("--data-dir", default="data", help="relay data directory (default ./data)")
    verify.add_argument("file", nargs="?", help="an audit file (default <data-dir>/audit/decisions.jsonl)")
    if argv[:1] == ["relay"]:
        from .relay.cli import relay_main

        return relay_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "audit":
        return _audit_verify(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())

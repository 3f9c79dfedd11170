"""The ``proof-messenger`` command.

    proof-messenger relay [--host --port --data-dir --config --redis-url --demo ...]
    proof-messenger audit verify DATA_DIR ...     (the Merkle audit log's offline verifier)

Each subcommand owns its arguments (``proof-messenger relay --help``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: proof-messenger {relay,audit} ...

  relay    run the Relay Server (proof-messenger relay --help)
  audit    verify the relay's audit log offline (proof-messenger audit --help)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "relay":
        from .relay.cli import relay_main

        return relay_main(rest)
    if command == "audit":
        from .auditlog.cli import main as audit_main

        return audit_main(rest)
    if command in ("-h", "--help"):
        print(USAGE)
        return 0
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""``python -m proof_messenger.relay``: the same as ``proof-messenger relay``."""

import sys

from .cli import relay_main

sys.exit(relay_main(prog="python -m proof_messenger.relay"))

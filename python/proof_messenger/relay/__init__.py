"""proof-messenger Relay Server: the self-hosted HTTP verification service.

Run it with ``proof-messenger relay`` or ``python -m proof_messenger.relay``;
embed it with :func:`create_app`. docs/RELAY.md is the manual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Config, ConfigError, load_config

if TYPE_CHECKING:
    from .http import create_app

__all__ = ["Config", "ConfigError", "create_app", "load_config"]


def __getattr__(name: str) -> Any:
    # The app pulls in FastAPI and the crypto core; import it only when asked.
    if name == "create_app":
        from .http import create_app

        return create_app
    raise AttributeError(name)

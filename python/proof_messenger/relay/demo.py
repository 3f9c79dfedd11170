"""The wire-transfer demo (served with --demo). Filled in below."""

from __future__ import annotations

from typing import Any


def build_demo(app: Any, relay: Any) -> None:
    return None

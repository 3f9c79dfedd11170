"""Shared test configuration: Hypothesis profiles and seed.

HYPOTHESIS_PROFILE=fast (default) keeps the whole suite to a few minutes on
two cores; HYPOTHESIS_PROFILE=slow runs many more examples per property
(``make test-slow``, e.g. before a release).

Every run uses one Hypothesis seed, printed in the pytest report header. It
is ``--hypothesis-seed=N`` if given, else ``$HYPOTHESIS_SEED``, else a fresh
random one; a failure is reproduced by running again with the printed seed
(and the same profile):

    HYPOTHESIS_SEED=N .venv/bin/python -m pytest -q tests/test_properties.py
"""

from __future__ import annotations

import os
import secrets
import typing

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "fast",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "slow",
    max_examples=2_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

_SEED: int | None = None


def hypothesis_seed(config: pytest.Config) -> int:
    """The seed of this run: --hypothesis-seed, else $HYPOTHESIS_SEED, else a random one."""
    given = config.getoption("--hypothesis-seed", None) or os.environ.get("HYPOTHESIS_SEED")
    if given:
        try:
            return int(given)
        except ValueError:
            raise pytest.UsageError(f"the Hypothesis seed must be an integer, not {given!r}") from None
    return secrets.randbelow(2**32)


def pytest_configure(config: pytest.Config) -> None:
    global _SEED
    from hypothesis import core

    _SEED = hypothesis_seed(config)
    core.global_force_seed = _SEED  # what --hypothesis-seed does; every @given test draws from it


def _seed_line() -> str:
    profile = settings.get_current_profile_name()
    return (
        f"hypothesis seed {_SEED} (profile {profile!r}); reproduce with HYPOTHESIS_SEED={_SEED}"
        f" HYPOTHESIS_PROFILE={profile}"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [_seed_line()]


def pytest_terminal_summary(terminalreporter: typing.Any) -> None:
    # -q hides the header (make test-python runs pytest -q): repeat the seed at the end
    terminalreporter.write_line(_seed_line())

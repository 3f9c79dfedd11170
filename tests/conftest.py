"""Shared test configuration: Hypothesis profiles.

HYPOTHESIS_PROFILE=fast (default) keeps the whole suite to a few minutes on
two cores; HYPOTHESIS_PROFILE=slow runs many more examples per property (CI
nightly, or before a release).
"""

from __future__ import annotations

import os

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

"""The engine: one group lifecycle (prepare -> verify -> record -> commit -> publish ->
answer) for the HTTP endpoints and the embedded verifier alike (``engine.py``), the
group runner that overlaps groups in threads for concurrent requests (``runner.py``),
and what the steps need: jobs (``job.py``), trusted keys (``trust.py``), WebAuthn
counters (``counters.py``)."""

from .engine import Engine, Group, Policy
from .job import Job
from .runner import GroupRunner

__all__ = ["Engine", "Group", "GroupRunner", "Job", "Policy"]

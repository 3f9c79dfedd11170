"""A :class:`Job`: one request's proofs on their way through the engine, and what it answers.

A job comes from the HTTP layer (a bearer credential to authenticate and the
request's bodies) or from the embedded verifier (the client itself). The
engine fills in either ``decisions`` and ``body`` (the encoded answer: one
verdict, or a verify-batch body) or ``refusal`` (the request refused as a
whole). ``single``: the one-proof endpoint, where a malformed proof or a
subject over its limit refuses the request instead of becoming a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from proof_messenger._core.relay import Decision

from ..errors import Refused
from ..stores.clients import ApiClient


@dataclass(eq=False, slots=True)
class Job:
    bodies: Sequence[bytes]
    single: bool = False
    credential: str | None = None  # a bearer API key (HTTP): the engine authenticates it
    client: ApiClient | None = None  # or the client itself (embedded); set by authentication
    request_id: str | None = None
    remote_addr: str | None = None
    decisions: list[Decision] = field(default_factory=list)
    body: bytes | None = None  # the answer: the verdict (single) or the verify-batch body
    refusal: Refused | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None

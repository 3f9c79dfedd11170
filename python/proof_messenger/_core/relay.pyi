"""Type stubs of ``proof_messenger._core.relay``: the Relay Server's native classes and
record writers (rust/relay, converted by rust/python/src/relay)."""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, final

from . import Proof, VerificationResult

__all__ = [
    "REFUSAL_CODES",
    "Claim",
    "Decision",
    "NonceIndex",
    "TokenBuckets",
    "attach_receipts",
    "audit_entries",
    "batch_body",
    "claim_key",
    "claims",
    "complete_receipts",
    "decide",
    "decision_lines",
    "record_entries",
    "refuse",
    "verdict",
]

REFUSAL_CODES: tuple[str, ...]

class _Owner(Protocol):
    """An API client as the relay needs it (``ApiClient`` has these attributes)."""

    @property
    def id(self) -> str: ...
    @property
    def audience(self) -> str: ...

class _EnrolledKey(Protocol):
    """An enrolled key as the relay needs it (``KeyRecord`` has these attributes)."""

    @property
    def id(self) -> str: ...
    @property
    def key_id(self) -> str: ...

@final
class Decision:
    """The relay's verdict on one proof (read-only; made by :func:`decide` and :func:`refuse`)."""

    def __new__(
        cls,
        valid: bool,
        code: str | None,
        detail: str | None,
        audience: str,
        decided_at_ms: int,
        client_id: str | None,
        *,
        subject: str | None = None,
        key_id: str | None = None,
        enrollment_id: str | None = None,
        nonce: str | None = None,
        timestamp_ms: int | None = None,
        context: Mapping[str, Any] | None = None,
        context_digest: bytes | None = None,
        signed_digest: bytes | None = None,
        algorithm: str | None = None,
    ) -> Decision: ...
    @property
    def valid(self) -> bool: ...
    @property
    def code(self) -> str | None: ...
    @property
    def detail(self) -> str | None: ...
    @property
    def audience(self) -> str: ...
    @property
    def decided_at_ms(self) -> int: ...
    @property
    def client_id(self) -> str | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def key_id(self) -> str | None: ...
    @property
    def enrollment_id(self) -> str | None: ...
    @property
    def nonce(self) -> str | None: ...
    @property
    def timestamp_ms(self) -> int | None: ...
    @property
    def algorithm(self) -> str | None: ...
    @property
    def context_digest(self) -> bytes | None: ...
    @property
    def context_digest_b64(self) -> str | None: ...
    @property
    def signed_digest(self) -> bytes | None: ...
    @property
    def context(self) -> dict[str, Any] | None: ...
    def context_json(self) -> bytes | None: ...
    @property
    def receipt_id(self) -> str | None: ...
    @property
    def receipt_index(self) -> int | None: ...
    @property
    def receipt_checkpoint(self) -> str | None: ...

@final
class Claim:
    """One accepted proof's claim on its nonce, kept until ``expires_at_ms``."""

    def __new__(cls, subject: str, audience: str, nonce: str, expires_at_ms: int) -> Claim: ...
    @property
    def subject(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def nonce(self) -> str: ...
    @property
    def expires_at_ms(self) -> int: ...
    @staticmethod
    def keys(claims: list[Claim]) -> bytes:
        """16-byte claim keys, concatenated: SHA-256(SHA-256(subject) || nonce), truncated."""
        ...

@final
class NonceIndex:
    """Consumed nonce claims (16-byte keys) with their expiries: a cache of the claim log."""

    def __new__(cls) -> NonceIndex: ...
    def add(self, keys: bytes, expires_at_ms: list[int], now_ms: int) -> None: ...
    def seen(self, keys: bytes, now_ms: int) -> list[bool]: ...
    def purge(self, now_ms: int) -> int: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...

@final
class TokenBuckets:
    """Keyed token buckets (the ``governor`` crate's GCRA), one per ``(amount, window_s)`` quota."""

    def __new__(cls, quotas: list[tuple[int, float]]) -> TokenBuckets: ...
    def hit(self, key: str, cost: int = 1) -> int: ...
    def hit_many(self, items: list[tuple[str, int]]) -> list[int]: ...
    def hit_grouped(self, keys: list[str]) -> list[int]: ...
    def retain_recent(self) -> None: ...
    def __len__(self) -> int: ...

def decide(
    results: Sequence[VerificationResult],
    owners: Sequence[_Owner],
    owner_of: Sequence[int],
    *,
    now_ms: int,
    refused: Mapping[int, str],
    enrolled: Mapping[str, Sequence[_EnrolledKey]],
) -> list[Decision]: ...
def refuse(
    owner: _Owner, code: str, detail: str | None = None, proof: Proof | None = None, *, now_ms: int
) -> Decision: ...
def attach_receipts(
    decisions: Sequence[Decision],
    log_id: str,
    origin: str,
    first_index: int,
    leaf_hashes: Sequence[bytes],
    entries: Sequence[bytes],
) -> None: ...
def complete_receipts(
    decisions: Sequence[Decision],
    checkpoint: str,
    size: int,
    proofs: Sequence[Sequence[bytes] | None] | None = None,
) -> None: ...
def claims(
    results: Sequence[VerificationResult],
    owners: Sequence[_Owner],
    owner_of: Sequence[int],
    accepted: Sequence[int],
    *,
    now_ms: int,
    skew_ms: int,
) -> list[Claim]: ...
def claim_key(scope: bytes, nonce: str) -> bytes:
    """The 16-byte key of ``nonce`` in the scope ``scope`` (SHA-256 of the subject)."""
    ...

def audit_entries(
    decisions: Sequence[Decision],
    first_index: int,
    log_id: str,
    sealed: Sequence[Mapping[str, str] | None] | None = None,
) -> list[bytes]: ...
def record_entries(
    records: Sequence[tuple[Any, ...]],
    first_index: int,
    log_id: str,
    sealed: Sequence[Mapping[str, str] | None] | None = None,
) -> list[bytes]: ...
def decision_lines(
    decisions: Sequence[Decision],
    request_id: str | None,
    remote_addr: str | None,
    *,
    with_context: bool = False,
) -> list[bytes]: ...
def verdict(decision: Decision, *, full_receipt: bool = False) -> bytes: ...
def batch_body(decisions: Sequence[Decision], *, full_receipts: bool = False) -> bytes: ...

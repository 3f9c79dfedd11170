"""Type stubs of the PyO3 extension ``proof_messenger._core`` (rust/python)."""

from collections.abc import Iterable
from typing import Any, final

from .errors import ProofMessengerError

_Binary = bytes | bytearray | memoryview | str

__all__ = [
    "ERROR_CODES",
    "Claim",
    "Decision",
    "NonceIndex",
    "Proof",
    "Registration",
    "SigningKey",
    "TokenBuckets",
    "VerificationResult",
    "VerifyingKey",
    "WebAuthnCredential",
    "__version__",
    "audit_entries",
    "canonicalize",
    "canonicalize_json",
    "context_digest",
    "decision_entries",
    "decision_lines",
    "fingerprint",
    "merkle_extend",
    "parse_proofs",
    "sign",
    "verdicts",
    "verdicts_body",
    "verify",
    "verify_batch",
    "verify_registration",
]

__version__: str
ERROR_CODES: tuple[str, ...]

@final
class SigningKey:
    @staticmethod
    def generate() -> SigningKey: ...
    @staticmethod
    def from_bytes(seed: bytes) -> SigningKey: ...
    @staticmethod
    def from_pkcs8_der(der: bytes) -> SigningKey: ...
    @staticmethod
    def from_pem(pem: bytes | str) -> SigningKey: ...
    def to_bytes(self) -> bytes: ...
    def to_pkcs8_der(self) -> bytes: ...
    def to_pem(self) -> bytes: ...
    @property
    def verifying_key(self) -> VerifyingKey: ...
    @property
    def key_id(self) -> str: ...

@final
class VerifyingKey:
    @staticmethod
    def from_bytes(data: bytes) -> VerifyingKey: ...
    @staticmethod
    def from_base64(text: str) -> VerifyingKey: ...
    @staticmethod
    def from_pem(pem: bytes | str) -> VerifyingKey: ...
    def to_bytes(self) -> bytes: ...
    def to_spki_der(self) -> bytes: ...
    def to_base64(self) -> str: ...
    def to_pem(self) -> bytes: ...
    @property
    def key_id(self) -> str: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Proof:
    @staticmethod
    def from_json(
        data: bytes | bytearray | memoryview | str, *, max_bytes: int = 65536, max_depth: int = 32
    ) -> Proof: ...
    def to_json(self) -> bytes: ...
    def to_dict(self) -> dict[str, Any]: ...
    @property
    def context(self) -> dict[str, Any]: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def audience(self) -> str: ...
    @property
    def nonce(self) -> str: ...
    @property
    def timestamp_ms(self) -> int: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def key_id(self) -> str: ...
    @property
    def public_key(self) -> VerifyingKey | None: ...
    @property
    def credential_id(self) -> bytes | None: ...
    @property
    def signature(self) -> bytes: ...
    @property
    def context_digest(self) -> bytes: ...
    @property
    def signing_payload(self) -> bytes: ...
    @property
    def signed_digest(self) -> bytes: ...

@final
class Claim:
    """One proof's claim on a nonce (``proof_messenger.relay.replay``)."""

    @property
    def subject(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def nonce(self) -> str: ...
    @property
    def expires_at_ms(self) -> int: ...
    def __new__(cls, subject: str, audience: str, nonce: str, expires_at_ms: int) -> Claim: ...
    @staticmethod
    def from_results(
        results: list[VerificationResult],
        owners: list[Any],
        accepted: list[int],
        *,
        now_ms: int,
        skew_ms: int,
    ) -> list[Claim]: ...
    @staticmethod
    def keys(claims: list[Claim]) -> bytes: ...

@final
class Decision:
    """The relay's verdict on one proof (``proof_messenger.relay.decision``)."""

    valid: bool
    code: str | None
    detail: str | None
    audience: str
    decided_at_ms: int
    client_id: str | None
    subject: str | None
    key_id: str | None
    enrollment_id: str | None
    nonce: str | None
    timestamp_ms: int | None
    context: dict[str, Any] | None
    context_digest: bytes | None
    signed_digest: bytes | None
    receipt_id: str | None
    receipt: Any
    algorithm: str | None
    result: VerificationResult | None
    def __new__(
        cls,
        valid: bool,
        code: str | None,
        detail: str | None,
        audience: str,
        decided_at_ms: int,
        client_id: str | None,
        subject: str | None = None,
        key_id: str | None = None,
        enrollment_id: str | None = None,
        nonce: str | None = None,
        timestamp_ms: int | None = None,
        context: dict[str, Any] | None = None,
        context_digest: bytes | None = None,
        signed_digest: bytes | None = None,
        receipt_id: str | None = None,
        receipt: Any = None,
        algorithm: str | None = None,
        result: VerificationResult | None = None,
    ) -> Decision: ...
    @staticmethod
    def from_results(
        results: list[VerificationResult],
        owners: list[Any],
        *,
        now_ms: int,
        refused: dict[int, str],
        details: dict[str, str],
        enrolled: dict[str, Any],
    ) -> list[Decision]: ...
    @staticmethod
    def attach_receipts(decisions: list[Decision], receipts: list[Any]) -> None: ...
    @property
    def context_digest_b64(self) -> str | None: ...
    def context_value(self) -> dict[str, Any] | None: ...
    def context_json(self) -> bytes | None: ...
    def verdict(self, *, compact_receipt: bool = False) -> dict[str, Any]: ...

@final
class VerificationResult:
    @property
    def valid(self) -> bool: ...
    @property
    def code(self) -> str | None: ...
    @property
    def detail(self) -> str | None: ...
    @property
    def context(self) -> dict[str, Any] | None: ...
    @property
    def canonical_context(self) -> bytes | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def algorithm(self) -> str | None: ...
    @property
    def key_id(self) -> str | None: ...
    @property
    def credential_id(self) -> bytes | None: ...
    @property
    def sign_count(self) -> int | None: ...
    @property
    def user_verified(self) -> bool | None: ...
    @property
    def backup_eligible(self) -> bool | None: ...
    @property
    def backup_state(self) -> bool | None: ...
    @property
    def audience(self) -> str | None: ...
    @property
    def nonce(self) -> str | None: ...
    @property
    def timestamp_ms(self) -> int | None: ...
    @property
    def expires_at_ms(self) -> int | None: ...
    @property
    def context_digest(self) -> bytes | None: ...
    @property
    def signed_digest(self) -> bytes | None: ...
    @property
    def proof(self) -> Proof | None: ...
    def __bool__(self) -> bool: ...

@final
class TokenBuckets:
    """Keyed token buckets (the ``governor`` crate's GCRA), one per ``(amount, window_s)`` quota."""

    def __new__(cls, quotas: list[tuple[int, float]]) -> TokenBuckets: ...
    def hit(self, key: str, cost: int = 1) -> int: ...
    def hit_many(self, items: list[tuple[str, int]]) -> list[int]: ...
    def hit_grouped(self, keys: list[str]) -> list[int]: ...
    def retain_recent(self) -> None: ...
    def __len__(self) -> int: ...

@final
class NonceIndex:
    """Consumed nonce claims (16-byte keys) with their expiries: the relay's cache of its nonce table."""

    def __new__(cls) -> NonceIndex: ...
    def add(self, keys: bytes, expires_at_ms: list[int], now_ms: int) -> None: ...
    def seen(self, keys: bytes, now_ms: int) -> list[bool]: ...
    def purge(self, now_ms: int) -> int: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...

@final
class WebAuthnCredential:
    def __new__(
        cls,
        credential_id: _Binary,
        public_key: _Binary,
        sign_count: int = 0,
        *,
        user_handle: _Binary | None = None,
    ) -> WebAuthnCredential: ...
    def with_sign_count(self, sign_count: int) -> WebAuthnCredential: ...
    @property
    def credential_id(self) -> bytes: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def sign_count(self) -> int: ...
    @property
    def algorithm(self) -> int: ...
    @property
    def algorithm_name(self) -> str: ...
    @property
    def user_handle(self) -> bytes | None: ...
    @property
    def key_id(self) -> str: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class Registration:
    @property
    def credential(self) -> WebAuthnCredential: ...
    @property
    def credential_id(self) -> bytes: ...
    @property
    def public_key(self) -> bytes: ...
    @property
    def sign_count(self) -> int: ...
    @property
    def algorithm(self) -> int: ...
    @property
    def key_id(self) -> str: ...
    @property
    def aaguid(self) -> bytes: ...
    @property
    def attestation_format(self) -> str: ...
    @property
    def user_verified(self) -> bool: ...
    @property
    def backup_eligible(self) -> bool: ...
    @property
    def backup_state(self) -> bool: ...
    @property
    def transports(self) -> list[str]: ...

def verify_registration(
    attestation_object: _Binary,
    client_data_json: _Binary,
    *,
    challenge: _Binary,
    rp_id: str,
    origins: str | Iterable[str],
    require_user_verification: bool = True,
    allow_cross_origin: bool = False,
    transports: Iterable[str] | None = None,
) -> Registration: ...
def audit_entries(records: list[Any], first_index: int, log_id: str) -> list[bytes]:
    """The relay's audit entries (``AuditRecord`` tuples, no context) as ``make_leaf`` writes them."""
    ...

def decision_entries(decisions: list[Decision], first_index: int, log_id: str) -> list[bytes]:
    """Audit entries for relay decisions: ``make_leaf(relay.audit.to_record(d))`` (no context)."""
    ...

def decision_lines(decisions: list[Decision], request_id: str | None, remote_addr: str | None) -> list[bytes]:
    """The relay's decision-log lines (no newline) for ``Decision`` objects, as ``relay.events`` writes."""
    ...

def verdicts(decisions: list[Decision]) -> list[bytes]:
    """The relay's verdicts for ``Decision`` objects (compact receipts; the context as canonical JSON)."""
    ...

def verdicts_body(decisions: list[Decision]) -> bytes:
    """``{"results":[...],"valid":n,"invalid":m}`` with each verdict as :func:`verdicts` writes it."""
    ...

def merkle_extend(
    size: int, peaks: list[bytes], leaves: list[bytes]
) -> tuple[list[bytes], bytes, list[bytes]]:
    """RFC 9162 batch append: ``(leaf_hashes, nodes, new_peaks)`` (nodes: post-order, 32 bytes each)."""
    ...

def parse_proofs(
    items: Iterable[_Binary], *, max_bytes: int = 65_536, max_depth: int = 32
) -> list[Proof | ProofMessengerError]:
    """Parses proofs on all cores (GIL released): per item, a Proof or what ``Proof.from_json`` raises."""
    ...

def sign(
    context: Any,
    key: SigningKey,
    *,
    audience: str,
    timestamp_ms: int,
    nonce: str | None = None,
    max_bytes: int = 65536,
    max_depth: int = 32,
) -> Proof: ...
def verify(
    proof: Any,
    *,
    audience: str,
    now_ms: int,
    trusted_keys: Any = None,
    resolver: Any = None,
    max_age_ms: int = 300000,
    max_skew_ms: int = 30000,
    max_bytes: int = 65536,
    max_depth: int = 32,
    rp_id: str | None = None,
    origins: str | Iterable[str] | None = None,
    require_user_verification: bool = True,
    allow_cross_origin: bool = False,
) -> VerificationResult: ...
def verify_batch(
    proofs: Iterable[Any],
    *,
    audience: str,
    now_ms: int,
    trusted_keys: Any = None,
    resolver: Any = None,
    max_age_ms: int = 300000,
    max_skew_ms: int = 30000,
    max_bytes: int = 65536,
    max_depth: int = 32,
    rp_id: str | None = None,
    origins: str | Iterable[str] | None = None,
    require_user_verification: bool = True,
    allow_cross_origin: bool = False,
) -> list[VerificationResult]: ...
def canonicalize(obj: Any, *, max_depth: int = 32) -> bytes: ...
def canonicalize_json(
    data: bytes | bytearray | memoryview | str,
    *,
    max_bytes: int = 65536,
    max_depth: int = 32,
    exact_numbers: bool = True,
) -> bytes: ...
def context_digest(obj: Any, *, max_depth: int = 32) -> bytes: ...
def fingerprint(obj: Any, *, max_depth: int = 32) -> str: ...

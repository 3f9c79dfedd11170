"""The JSON shapes of the HTTP API (pydantic), for validation of admin, challenge
and WebAuthn registration bodies and for the OpenAPI document. Verification
bodies are not parsed by these models: proof bytes go to the core parser untouched."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_TEXT = r"^[^\x00]+$"  # no NUL: the registry must fit PostgreSQL TEXT too
_LABEL = r"^[^\x00-\x1f\x7f]*$"  # a name shown to a person: no control characters
_B64URL = r"^[A-Za-z0-9_-]*$"
MAX_NAME_BYTES = 255  # PROTOCOL.md section 2: a subject or an audience is 1 to 255 UTF-8 bytes


def _protocol_name(value: str) -> str:
    """A subject or audience no proof could carry is refused where it is configured."""
    if len(value.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"at most {MAX_NAME_BYTES} UTF-8 bytes (PROTOCOL.md section 2)")
    return value


# Subjects and audiences as the protocol bounds them (characters and, then, UTF-8 bytes).
Name = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_BYTES, pattern=_TEXT), AfterValidator(_protocol_name)
]
ShownName = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_BYTES, pattern=_LABEL), AfterValidator(_protocol_name)
]


class _Strict(BaseModel):
    """Unknown members are refused (every request and response model)."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Strict):
    code: str = Field(description="Stable snake_case code (docs/RELAY.md).")
    detail: str


class ErrorBody(_Strict):
    error: ErrorDetail


class Proof(BaseModel):
    """A proof (docs/PROTOCOL.md). Sent as the raw request body; the core parses it."""

    model_config = ConfigDict(extra="forbid")
    version: Literal[1]
    algorithm: Literal["Ed25519"]
    context: dict[str, Any] = Field(
        description='The signed business request; context["subject"] names the signer.'
    )
    audience: str
    timestamp: int = Field(description="Unix time in milliseconds.")
    nonce: str = Field(description="base64url, 16 to 64 bytes.")
    publicKey: str = Field(description="base64 raw 32-byte Ed25519 key or SPKI DER.")
    signature: str = Field(description="base64, 64 bytes.")


class AuditReceipt(_Strict):
    """Proof that the decision is in the relay's audit log (docs/AUDIT_LOG.md, "Receipts").
    Check it offline: ``proof-messenger audit receipt FILE --public-key VKEY``."""

    receiptId: str
    origin: str = Field(description="The log's origin (first line of its checkpoints).")
    index: int = Field(description="The entry's index in the log.")
    leafHash: str = Field(description="base64 RFC 6962 leaf hash: SHA-256(0x00 || entry).")
    entry: str | None = Field(
        default=None,
        description="The exact logged entry (RFC 8785 JSON); absent from compact receipts "
        "(audit_receipt = compact, the default): GET /audit/receipts/{index} returns the full receipt.",
    )
    checkpoint: str | None = Field(
        default=None,
        description="A signed checkpoint (C2SP note) covering the entry, in compact and full "
        "receipts: the log's signature over a tree holding the entry, which a later rewrite of "
        "the log cannot reproduce (keep it; audit verify --checkpoint catches the rewrite).",
    )
    inclusionProof: list[str] | None = Field(
        default=None,
        description="base64 audit path to the checkpoint's root (full receipts with "
        "audit_inclusion_proof on; else GET /audit/proof/inclusion or /audit/receipts/{index}).",
    )


class AuditCheckpoint(_Strict):
    origin: str
    size: int
    rootHash: str = Field(description="base64 root hash of the tree of that size.")
    checkpoint: str = Field(description="The signed checkpoint (C2SP note).")


class Verdict(_Strict):
    valid: bool = Field(description="True only if every check passed and the nonce was consumed now.")
    code: str | None = Field(
        description="Reason code when invalid (core codes plus the relay's verdict codes)."
    )
    detail: str | None
    subject: str | None
    keyId: str | None = Field(description="RFC 7638 thumbprint of the proof's key.")
    enrollmentId: str | None = Field(description="Registry entry that vouched for the key (valid proofs).")
    audience: str = Field(description="The audience the relay required (the client's).")
    nonce: str | None
    timestamp: int | None
    context: dict[str, Any] | None = Field(description="The verified context (valid proofs only).")
    contextDigest: str | None = Field(description="base64url SHA-256 of the canonical context.")
    receiptId: str | None = Field(description="Audit log receipt for this decision.")
    receipt: AuditReceipt | None = Field(default=None, description="The audit receipt itself.")


class BatchVerdicts(_Strict):
    results: list[Verdict]
    valid: int
    invalid: int


class ChallengeRequest(_Strict):
    subject: Name
    ttlMs: int | None = Field(default=None, ge=1000, le=3_600_000)


class ChallengeOut(_Strict):
    nonce: str = Field(description="Sign a context with this nonce; it is accepted once.")
    subject: str
    audience: str
    expiresAt: int


class KeyEnrollRequest(_Strict):
    subject: Name
    publicKey: str = Field(
        min_length=1, max_length=4096, description="base64 raw 32 bytes or SPKI DER, or PEM."
    )
    label: str | None = Field(default=None, max_length=256, pattern=_TEXT)
    notBefore: int | None = Field(default=None, ge=0, le=2**53)
    notAfter: int | None = Field(default=None, ge=0, le=2**53)


class KeyOut(_Strict):
    id: str
    subject: str
    keyId: str
    publicKey: str
    label: str | None
    notBefore: int | None
    notAfter: int | None
    createdAt: int
    revokedAt: int | None


class KeyList(_Strict):
    keys: list[KeyOut]


class ClientCreateRequest(_Strict):
    name: str = Field(min_length=1, max_length=256, pattern=_TEXT)
    audience: Name
    role: Literal["client", "auditor"] = Field(
        "client", description="auditor: may read every audit entry and full receipt, not only its own"
    )


class ClientOut(_Strict):
    id: str
    name: str
    audience: str
    role: str
    createdAt: int
    revokedAt: int | None


class ClientCreated(ClientOut):
    apiKey: str = Field(description="Shown once; the relay keeps only its SHA-256.")


class ClientList(_Strict):
    clients: list[ClientOut]


class Health(_Strict):
    status: str
    checks: dict[str, str] | None = None
    warnings: list[str] | None = Field(
        None, description="Ready, but unprotected against something (the audit log's tamper evidence)"
    )


# --- WebAuthn registration ---------------------------------------------------------


class RegistrationChallengeRequest(_Strict):
    subject: ShownName
    userName: str | None = Field(default=None, max_length=256, pattern=_LABEL)
    displayName: str | None = Field(default=None, max_length=256, pattern=_LABEL)


class RegistrationRequest(_Strict):
    challenge: str = Field(min_length=22, max_length=128, pattern=_B64URL)
    attestationObject: str = Field(min_length=1, max_length=16384, pattern=_B64URL)
    clientDataJSON: str = Field(min_length=1, max_length=4096, pattern=_B64URL)
    transports: list[str] = Field(default_factory=list, max_length=8)
    label: str | None = Field(default=None, max_length=256, pattern=_LABEL)


class RegistrationOptionsOut(_Strict):
    challenge: str = Field(description="base64url of 32 random bytes; accepted once, until expiresAt")
    expiresAt: int
    subject: str
    publicKey: dict[str, Any] = Field(
        description="PublicKeyCredentialCreationOptions for navigator.credentials.create (binary: base64url)"
    )


class CredentialOut(_Strict):
    id: str
    subject: str
    credentialId: str
    keyId: str
    publicKey: str = Field(description="the COSE_Key as the authenticator encoded it, base64url")
    algorithm: int
    signCount: int
    transports: list[str]
    aaguid: str
    userHandle: str | None
    userVerified: bool
    backupEligible: bool
    backupState: bool
    attestationFormat: str
    label: str | None
    createdAt: int
    revokedAt: int | None


class CredentialListOut(_Strict):
    credentials: list[CredentialOut]


class DemoRegistrationChallengeRequest(_Strict):
    userName: str | None = Field(default=None, max_length=256, pattern=_LABEL)


NDJSON = "application/x-ndjson"
JSON = "application/json"

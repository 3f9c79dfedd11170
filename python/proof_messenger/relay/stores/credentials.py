"""WebAuthn credentials for the relay (docs/PROTOCOL.md section 10): the registered
credentials (per subject: credential id, COSE public key exactly as the
authenticator encoded it, signature counter, transports, backup flags, AAGUID)
and the one-time registration challenges, in the relay's SQL database. The
engine reads a group's credentials and raises their counters atomically
(``UPDATE ... WHERE sign_count < ?``: of two proofs with one counter, one wins).

>>> from proof_messenger.relay.stores.db import SqliteDatabase
>>> store = WebAuthnStore(SqliteDatabase(":memory:"))
>>> rec = store.add("alice", b"cred", b"cose", sign_count=3, now_ms=1)
>>> store.raise_sign_count(b"cred", 3), store.raise_sign_count(b"cred", 4), store.raise_sign_count(b"cred", 4)
(False, True, False)
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import proof_messenger as pm

from .db import Database, query_in

CHALLENGE_BYTES = 32
# COSE algorithms offered to authenticators, in order of preference.
PUB_KEY_CRED_PARAMS = [{"type": "public-key", "alg": alg} for alg in (-7, -8, -257)]


class DuplicateCredential(Exception):
    """The credential id is already registered (for any subject)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Canonical unpadded base64url only."""
    if not isinstance(text, str) or "=" in text:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


@dataclass(frozen=True, slots=True)
class CredentialRecord:
    id: str
    subject: str
    credential_id: bytes
    public_key: bytes  # COSE_Key as registered
    sign_count: int
    algorithm: int
    transports: tuple[str, ...]
    aaguid: bytes
    user_handle: bytes | None
    user_verified: bool
    backup_eligible: bool
    backup_state: bool
    attestation_format: str
    label: str | None
    created_at_ms: int
    revoked_at_ms: int | None

    def credential(self) -> pm.WebAuthnCredential:
        return pm.WebAuthnCredential(
            self.credential_id, self.public_key, self.sign_count, user_handle=self.user_handle
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "credentialId": b64url(self.credential_id),
            "keyId": b64url(self.credential_id),
            "publicKey": b64url(self.public_key),
            "algorithm": self.algorithm,
            "signCount": self.sign_count,
            "transports": list(self.transports),
            "aaguid": self.aaguid.hex(),
            "userHandle": None if self.user_handle is None else b64url(self.user_handle),
            "userVerified": self.user_verified,
            "backupEligible": self.backup_eligible,
            "backupState": self.backup_state,
            "attestationFormat": self.attestation_format,
            "label": self.label,
            "createdAt": self.created_at_ms,
            "revokedAt": self.revoked_at_ms,
        }


@dataclass(frozen=True, slots=True)
class RegistrationChallenge:
    challenge: bytes
    subject: str
    user_handle: bytes
    expires_at_ms: int


_SCHEMA = """
CREATE TABLE IF NOT EXISTS pm_webauthn_credentials (
    id               TEXT PRIMARY KEY,
    subject          TEXT NOT NULL,
    credential_id    BLOB NOT NULL UNIQUE,
    public_key       BLOB NOT NULL,
    sign_count       BIGINT NOT NULL,
    algorithm        INTEGER NOT NULL,
    transports       TEXT NOT NULL,
    aaguid           BLOB NOT NULL,
    user_handle      BLOB,
    user_verified    INTEGER NOT NULL,
    backup_eligible  INTEGER NOT NULL,
    backup_state     INTEGER NOT NULL,
    attestation_fmt  TEXT NOT NULL,
    label            TEXT,
    created_at_ms    BIGINT NOT NULL,
    revoked_at_ms    BIGINT
);
CREATE INDEX IF NOT EXISTS pm_webauthn_credentials_subject ON pm_webauthn_credentials (subject);
CREATE TABLE IF NOT EXISTS pm_webauthn_challenges (
    challenge      BLOB PRIMARY KEY,
    subject        TEXT NOT NULL,
    user_handle    BLOB NOT NULL,
    expires_at_ms  BIGINT NOT NULL
);
"""
_COLUMNS = (
    "id, subject, credential_id, public_key, sign_count, algorithm, transports, aaguid, user_handle,"
    " user_verified, backup_eligible, backup_state, attestation_fmt, label, created_at_ms, revoked_at_ms"
)


def _record(row: Any) -> CredentialRecord:
    return CredentialRecord(
        row[0],
        row[1],
        bytes(row[2]),
        bytes(row[3]),
        int(row[4]),
        int(row[5]),
        tuple(json.loads(row[6])),
        bytes(row[7]),
        None if row[8] is None else bytes(row[8]),
        bool(row[9]),
        bool(row[10]),
        bool(row[11]),
        row[12],
        row[13],
        row[14],
        row[15],
    )


class WebAuthnStore:
    """Registered WebAuthn credentials and registration challenges (SQL, thread-safe)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(_SCHEMA)

    # -- registration challenges -------------------------------------------------

    def issue_challenge(
        self, subject: str, *, ttl_ms: int, now_ms: int, user_handle: bytes | None = None
    ) -> RegistrationChallenge:
        existing = self.db.query_one(
            "SELECT user_handle FROM pm_webauthn_credentials WHERE subject = ? AND user_handle IS NOT NULL"
            " LIMIT 1",
            (subject,),
        )
        handle = user_handle or (bytes(existing[0]) if existing else secrets.token_bytes(32))
        ch = RegistrationChallenge(secrets.token_bytes(CHALLENGE_BYTES), subject, handle, now_ms + ttl_ms)
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM pm_webauthn_challenges WHERE expires_at_ms <= ?", (now_ms,))
            tx.execute(
                "INSERT INTO pm_webauthn_challenges (challenge, subject, user_handle, expires_at_ms)"
                " VALUES (?, ?, ?, ?)",
                (ch.challenge, ch.subject, ch.user_handle, ch.expires_at_ms),
            )
        return ch

    def consume_challenge(self, challenge: bytes, *, now_ms: int) -> RegistrationChallenge | None:
        """The challenge if it was issued and has not expired; it can be used once."""
        with self.db.transaction() as tx:
            row = tx.execute(
                "SELECT challenge, subject, user_handle, expires_at_ms FROM pm_webauthn_challenges"
                " WHERE challenge = ?",
                (challenge,),
            ).fetchone()
            if row is None:
                return None
            tx.execute("DELETE FROM pm_webauthn_challenges WHERE challenge = ?", (challenge,))
        ch = RegistrationChallenge(bytes(row[0]), row[1], bytes(row[2]), int(row[3]))
        return ch if ch.expires_at_ms > now_ms else None

    # -- credentials ---------------------------------------------------------------

    def add(
        self,
        subject: str,
        credential_id: bytes,
        public_key: bytes,
        *,
        sign_count: int = 0,
        algorithm: int = 0,
        transports: Sequence[str] = (),
        aaguid: bytes = bytes(16),
        user_handle: bytes | None = None,
        user_verified: bool = False,
        backup_eligible: bool = False,
        backup_state: bool = False,
        attestation_format: str = "none",
        label: str | None = None,
        now_ms: int,
    ) -> CredentialRecord:
        rec = CredentialRecord(
            "wac_" + secrets.token_hex(10),
            subject,
            bytes(credential_id),
            bytes(public_key),
            sign_count,
            algorithm,
            tuple(transports),
            bytes(aaguid),
            user_handle,
            user_verified,
            backup_eligible,
            backup_state,
            attestation_format,
            label,
            now_ms,
            None,
        )
        with self.db.transaction() as tx:
            # Refused even if the earlier one was revoked: a credential id names one key forever.
            if tx.execute(
                "SELECT 1 FROM pm_webauthn_credentials WHERE credential_id = ?", (rec.credential_id,)
            ).fetchone():
                raise DuplicateCredential(b64url(rec.credential_id))
            tx.execute(
                f"INSERT INTO pm_webauthn_credentials ({_COLUMNS})"  # noqa: S608
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.id,
                    rec.subject,
                    rec.credential_id,
                    rec.public_key,
                    rec.sign_count,
                    rec.algorithm,
                    json.dumps(list(rec.transports)),
                    rec.aaguid,
                    rec.user_handle,
                    int(rec.user_verified),
                    int(rec.backup_eligible),
                    int(rec.backup_state),
                    rec.attestation_format,
                    rec.label,
                    rec.created_at_ms,
                    None,
                ),
            )
        return rec

    def add_registration(
        self, subject: str, reg: pm.Registration, *, user_handle: bytes | None, label: str | None, now_ms: int
    ) -> CredentialRecord:
        return self.add(
            subject,
            reg.credential_id,
            reg.public_key,
            sign_count=reg.sign_count,
            algorithm=reg.algorithm,
            transports=reg.transports,
            aaguid=reg.aaguid,
            user_handle=user_handle,
            user_verified=reg.user_verified,
            backup_eligible=reg.backup_eligible,
            backup_state=reg.backup_state,
            attestation_format=reg.attestation_format,
            label=label,
            now_ms=now_ms,
        )

    def get(self, credential_id: bytes) -> CredentialRecord | None:
        row = self.db.query_one(
            f"SELECT {_COLUMNS} FROM pm_webauthn_credentials WHERE credential_id = ?",  # noqa: S608
            (credential_id,),
        )
        return None if row is None else _record(row)

    def list_credentials(self, *, subject: str | None = None) -> list[CredentialRecord]:
        sql = f"SELECT {_COLUMNS} FROM pm_webauthn_credentials"  # noqa: S608
        params: tuple[Any, ...] = ()
        if subject is not None:
            sql += " WHERE subject = ?"
            params = (subject,)
        return [_record(r) for r in self.db.query_all(sql + " ORDER BY created_at_ms, id", params)]

    def revoke(self, credential_id: bytes, *, now_ms: int) -> CredentialRecord | None:
        self.db.execute(
            "UPDATE pm_webauthn_credentials SET revoked_at_ms = ?"
            " WHERE credential_id = ? AND revoked_at_ms IS NULL",
            (now_ms, credential_id),
        )
        return self.get(credential_id)

    def active(self, subjects: Iterable[str]) -> dict[str, list[CredentialRecord]]:
        wanted = list(dict.fromkeys(subjects))
        out: dict[str, list[CredentialRecord]] = {}
        sql = (
            f"SELECT {_COLUMNS} FROM pm_webauthn_credentials"  # noqa: S608
            " WHERE subject IN ({marks}) AND revoked_at_ms IS NULL"
        )
        for row in query_in(self.db, sql, wanted):
            rec = _record(row)
            out.setdefault(rec.subject, []).append(rec)
        return out

    def raise_sign_count(
        self, credential_id: bytes, sign_count: int, *, backup_state: bool | None = None
    ) -> bool:
        """Stores ``sign_count`` only if it is still above the stored value (atomic)."""
        cur = self.db.execute(
            "UPDATE pm_webauthn_credentials SET sign_count = ?, backup_state = COALESCE(?, backup_state)"
            " WHERE credential_id = ? AND sign_count < ?",
            (sign_count, None if backup_state is None else int(backup_state), credential_id, sign_count),
        )
        return cur.rowcount == 1

    def set_sign_count(self, credential_id: bytes, sign_count: int) -> None:
        """Administrative override (tests, recovery): sets the counter unconditionally."""
        self.db.execute(
            "UPDATE pm_webauthn_credentials SET sign_count = ? WHERE credential_id = ?",
            (sign_count, credential_id),
        )

    def ping(self) -> None:
        self.db.query_one("SELECT 1 FROM pm_webauthn_credentials LIMIT 1")

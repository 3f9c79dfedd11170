"""API clients: the calling services allowed to verify proofs.

Each client gets a bearer key once, at creation; only its SHA-256 is stored.
Authentication looks the row up by a prefix of that hash (an index, which
reveals nothing useful about the key) and compares the full hash with
:func:`hmac.compare_digest`. A client is bound to one audience: the relay
verifies that every proof it submits is addressed to that audience. A client's
role is ``client`` (reads its own audit entries) or ``auditor`` (reads every
entry); roles are given by the admin at creation only.

>>> from proof_messenger.relay.stores.db import SqliteDatabase
>>> store = SqlClientStore(SqliteDatabase(":memory:"))
>>> client, api_key = store.create("payments-backend", audience="payments-api", now_ms=1)
>>> store.authenticate(api_key).id == client.id
True
>>> store.authenticate(api_key + "x") is None
True
>>> _ = store.revoke(client.id, now_ms=2)
>>> store.authenticate(api_key) is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from .db import Database

# SQL text here interpolates only constant column lists and "?" placeholders (S608 noqa);
# every value is a bound parameter.

KEY_PREFIX = "pmk_"
_HASH_INDEX_CHARS = 16  # 64 bits of the hash: unique enough to index, useless to an attacker
CLIENT, AUDITOR = "client", "auditor"
ROLES = (CLIENT, AUDITOR)


@dataclass(frozen=True, slots=True)
class ApiClient:
    id: str
    name: str
    audience: str
    created_at_ms: int
    revoked_at_ms: int | None = None
    role: str = CLIENT

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "audience": self.audience,
            "role": self.role,
            "createdAt": self.created_at_ms,
            "revokedAt": self.revoked_at_ms,
        }


class ClientStore(Protocol):
    def create(
        self, name: str, *, audience: str, now_ms: int, role: str = CLIENT
    ) -> tuple[ApiClient, str]: ...
    def authenticate(self, api_key: str) -> ApiClient | None: ...
    def get(self, client_id: str) -> ApiClient | None: ...
    def list_clients(
        self, *, include_revoked: bool = False, limit: int = 100, offset: int = 0
    ) -> list[ApiClient]: ...
    def revoke(self, client_id: str, *, now_ms: int) -> ApiClient | None: ...


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS pm_clients (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    audience      TEXT NOT NULL,
    key_index     TEXT NOT NULL,
    key_hash      TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT,
    role          TEXT NOT NULL DEFAULT 'client'
);
CREATE INDEX IF NOT EXISTS pm_clients_key_index ON pm_clients (key_index);
"""
# Databases made before roles: every existing client keeps the plain role.
_ADD_ROLE = "ALTER TABLE pm_clients ADD COLUMN role TEXT NOT NULL DEFAULT 'client'"
_COLUMNS = "id, name, audience, created_at_ms, revoked_at_ms, role"


class SqlClientStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(_SCHEMA)
        if "role" not in {row[1] for row in db.query_all("PRAGMA table_info(pm_clients)")}:
            db.execute(_ADD_ROLE)

    def create(self, name: str, *, audience: str, now_ms: int, role: str = CLIENT) -> tuple[ApiClient, str]:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        api_key = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_key(api_key)
        client = ApiClient("cli_" + secrets.token_hex(10), name, audience, now_ms, role=role)
        self.db.execute(
            "INSERT INTO pm_clients (id, name, audience, key_index, key_hash, created_at_ms, role)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (client.id, name, audience, digest[:_HASH_INDEX_CHARS], digest, now_ms, role),
        )
        return client, api_key

    def authenticate(self, api_key: str) -> ApiClient | None:
        """The unrevoked client holding ``api_key``, else None (constant-time compare)."""
        digest = hash_key(api_key)
        rows = self.db.query_all(
            f"SELECT {_COLUMNS}, key_hash FROM pm_clients WHERE key_index = ?",  # noqa: S608
            (digest[:_HASH_INDEX_CHARS],),
        )
        found = None
        for row in rows:
            if hmac.compare_digest(row[6], digest) and row[4] is None:
                found = ApiClient(*row[:6])
        return found

    def get(self, client_id: str) -> ApiClient | None:
        row = self.db.query_one(f"SELECT {_COLUMNS} FROM pm_clients WHERE id = ?", (client_id,))  # noqa: S608
        return None if row is None else ApiClient(*row)

    def list_clients(
        self, *, include_revoked: bool = False, limit: int = 100, offset: int = 0
    ) -> list[ApiClient]:
        sql = f"SELECT {_COLUMNS} FROM pm_clients"  # noqa: S608
        if not include_revoked:
            sql += " WHERE revoked_at_ms IS NULL"
        sql += " ORDER BY created_at_ms, id LIMIT ? OFFSET ?"
        return [ApiClient(*row) for row in self.db.query_all(sql, (limit, offset))]

    def revoke(self, client_id: str, *, now_ms: int) -> ApiClient | None:
        self.db.execute(
            "UPDATE pm_clients SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL",
            (now_ms, client_id),
        )
        return self.get(client_id)


def admin_token_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison of the admin bearer token (via fixed-size digests)."""
    return hmac.compare_digest(hash_key(presented), hash_key(expected))

"""The relay's stores: what it keeps between requests, behind one interface each.

| module | keeps | engines |
|---|---|---|
| ``db`` | the SQL dialect seam the SQL stores share | SQLite (embedded) |
| ``registry`` | enrolled keys per subject, with a cache proven current per call | SQL |
| ``clients`` | API clients (keys stored as SHA-256, compared in constant time) | SQL |
| ``credentials`` | WebAuthn credentials and registration challenges | SQL |
| ``replay`` | consumed nonces and issued challenges | SQLite claim log, Redis |
| ``limits`` | rate limits per client and per subject | in process, Redis |

A store that fails raises its engine's exception; :data:`STORE_ERRORS` names
them, so that the HTTP layer answers 503 (fail closed) and readiness reports it.
"""

from __future__ import annotations

import sqlite3


def _store_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [sqlite3.Error, OSError]
    try:
        import redis.exceptions

        types.append(redis.exceptions.RedisError)
    except ImportError:  # pragma: no cover - redis is a dependency of the relay extra
        pass
    from limits.errors import StorageError

    from proof_messenger.auditlog import LogCorrupted, LogFailed

    types += [StorageError, LogFailed, LogCorrupted]
    return tuple(types)


#: The exceptions of a failing store (SQLite, Redis, the rate-limit storage, the audit log).
STORE_ERRORS: tuple[type[BaseException], ...] = _store_error_types()

__all__ = ["STORE_ERRORS"]

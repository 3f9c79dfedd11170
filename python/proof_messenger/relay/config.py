"""Relay configuration: defaults < TOML file < environment < command-line flags.

Every setting has one name used everywhere: the TOML key (top level or under a
``[relay]`` table), the environment variable ``PROOF_MESSENGER_<NAME>`` and the
flag ``--name-with-dashes``. Defaults are the secure ones: loopback bind, one
local data directory, no external service.

>>> cfg = load_config(env={"PROOF_MESSENGER_PORT": "9000"}, flags={"host": "0.0.0.0"})
>>> (cfg.host, cfg.port, cfg.bind_public)
('0.0.0.0', 9000, True)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import secrets
import stat
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the tomli backport (same API)
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]


log = logging.getLogger("proof_messenger.relay")

ENV_PREFIX = "PROOF_MESSENGER_"


class ConfigError(ValueError):
    """A setting is unknown or has a value of the wrong type."""


@dataclass(frozen=True)
class Config:
    # --- server ---------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8787
    server: str = "uvicorn"  # uvicorn | granian (see docs/RELAY.md for the measurement)
    workers: int = 1  # processes sharing the socket (uvicorn); >1: use redis_url for exact rate limits
    user: str = "proof-messenger"  # started as root: drop to this dedicated user after binding
    allow_root: bool = False  # keep root privileges (containers that need it; discouraged)
    graceful_timeout_s: float = 10.0  # in-flight requests drain for this long on SIGTERM
    # Connections (relay/http/connections.py; uvicorn, per worker process):
    head_timeout_s: float = (
        10.0  # a request head must be complete this long after the connection or last answer
    )
    idle_timeout_s: float = 5.0  # a connection that sends nothing (new or kept alive) is closed
    max_connections: int = 1024  # open connections; needs max_connections + 64 file descriptors
    # --- storage --------------------------------------------------------------
    data_dir: Path = Path("data")
    redis_url: str | None = None  # nonces, challenges and rate limits in Redis
    sqlite_synchronous: str = "normal"  # normal: survives process crashes; full: power loss
    # --- secrets (never printed) ----------------------------------------------
    admin_token: str | None = field(default=None, repr=False)
    admin_token_file: Path | None = None  # default <data_dir>/admin.token
    # --- request limits -------------------------------------------------------
    max_body_bytes: int = 65_536
    max_batch_bytes: int = 4 * 1024 * 1024
    max_batch_count: int = 1000
    max_depth: int = 32
    body_timeout_s: float = 10.0
    # --- verification policy --------------------------------------------------
    max_age_ms: int = 300_000
    max_skew_ms: int = 30_000
    challenge_ttl_ms: int = 120_000
    require_challenge: bool = False
    # --- rate limits (limits library notation, per client / per subject) -------
    rate_limit_client: str = "1000/second"
    rate_limit_subject: str = "60/minute"
    rate_limit_strategy: str = "token-bucket"  # token-bucket | sliding-window | moving-window | fixed-window
    # Before a verification body is read (relay/http/admission.py; per worker process):
    auth_failure_limit: str = "20/second"  # store lookups of unknown or missing keys, per source address
    max_inflight_bytes: int = 64 * 1024 * 1024  # body bytes reserved by requests in progress
    max_client_inflight_bytes: int = 16 * 1024 * 1024  # ... by one API client's requests
    max_inflight_jobs: int = 4096  # verification requests in progress
    max_client_inflight_jobs: int = 1024  # ... of one API client
    # --- events and audit -----------------------------------------------------
    decision_log: str = "-"  # "-" = stdout, "" = off, else a file path
    log_context: bool = False  # include the verified context in decision events
    log_level: str = "info"
    audit_fsync: bool = True  # receipts are returned only after the audit batch is fsynced
    audit_origin_prefix: str = "proof-messenger"  # checkpoint origin: <prefix>/<node>-<slot>
    audit_node: str | None = None  # default: the host name (one log per relay process: <node>-<slot>)
    audit_key_file: Path | None = None  # log signing key (PKCS#8 PEM Ed25519); default generated log.key
    # The same key as PEM text, from the environment only ($PROOF_MESSENGER_AUDIT_LOG_KEY): never printed.
    audit_log_key: str | None = field(default=None, repr=False)
    audit_encryption_key_file: Path | None = None  # AES-256-GCM keys (else $PROOF_MESSENGER_AUDIT_KEY)
    audit_witness_file: Path | None = None  # append every persisted checkpoint to this file
    audit_witness_url: str | None = None  # POST checkpoints to a C2SP tlog-witness / webhook
    audit_checkpoint_interval_s: float = 1.0  # persist + push a checkpoint this often when the log grew
    audit_receipt: str = "compact"  # compact: id, index, leaf hash (full one: GET /audit/receipts/{i}) | full
    audit_inclusion_proof: bool = False  # full receipts carry the inclusion proof (else fetch it)
    # --- demo -----------------------------------------------------------------
    demo: bool = False
    demo_force: bool = False  # run the demo on a data directory that was not made by one
    demo_audience: str = "demo-bank"
    wasm_dir: Path | None = None  # the built WASM package (wasm/dist); found automatically
    # --- WebAuthn (docs/PROTOCOL.md section 10); off unless webauthn_rp_id is set (or demo) ---
    webauthn_rp_id: str | None = None  # e.g. "bank.example"; demo default "localhost"
    webauthn_origins: str = ""  # comma-separated exact origins; demo default http://localhost:<port>
    webauthn_rp_name: str = "proof-messenger"

    @property
    def bind_public(self) -> bool:
        return self.host not in ("127.0.0.1", "::1", "localhost")

    def resolved_admin_token_file(self) -> Path:
        return self.admin_token_file or self.data_dir / "admin.token"


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Config)}
# Secrets come from the environment (or their *_file setting), never from a command line
# (visible in ps) or a config file (copied, committed and shown around).
SECRETS = ("admin_token", "audit_log_key")
_SYNCHRONOUS = ("normal", "full")
_STRATEGIES = ("token-bucket", "sliding-window", "moving-window", "fixed-window")
_SERVERS = ("uvicorn", "granian")
_RECEIPTS = ("compact", "full")


def _field_type(name: str) -> Any:
    hints = typing.get_type_hints(Config)
    tp = hints[name]
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def _coerce(name: str, value: Any) -> Any:
    tp = _field_type(name)
    if value is None:
        return None
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if tp is int:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if tp is Path:
            return Path(os.path.expanduser(str(value)))
        if tp is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name!r}: {value!r} is not a valid {tp.__name__}") from None
    raise ConfigError(f"setting {name!r}: unsupported type")  # pragma: no cover


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    table = raw.pop("relay", {})
    if not isinstance(table, dict):
        raise ConfigError("config file: [relay] must be a table")
    merged = {**raw, **table}
    unknown = sorted(set(merged) - set(FIELDS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    if "admin_token" in merged:  # config files get copied, committed and shown around
        raise ConfigError(
            f"config file {path}: admin_token is not read from files; set {ENV_PREFIX}ADMIN_TOKEN"
            " or admin_token_file (a file of its own, mode 0600)"
        )
    if "audit_log_key" in merged:
        raise ConfigError(
            f"config file {path}: audit_log_key is not read from files; set {ENV_PREFIX}AUDIT_LOG_KEY"
            " or audit_key_file (a file of its own, outside the data directory)"
        )
    return merged


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in FIELDS:
        key = ENV_PREFIX + name.upper()
        if key in env and env[key] != "":
            out[name] = env[key]
    return out


def load_config(
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Merges the sources (flags > env > file > defaults) and validates the result.

    ``config_file`` defaults to ``$PROOF_MESSENGER_CONFIG``; flags whose value
    is ``None`` are treated as not given.
    """
    env = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    unknown = sorted(set(flags) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}")
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    values: dict[str, Any] = {}
    if path:
        values.update(_from_file(Path(path)))
    values.update(_from_env(env))
    values.update(flags)
    cfg = Config(**{name: _coerce(name, value) for name, value in values.items()})
    _validate(cfg)
    return cfg


def _validate(cfg: Config) -> None:
    def check(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    check(0 <= cfg.port <= 65535, "port must be 0..65535")
    check(cfg.server in _SERVERS, f"server must be one of {_SERVERS}")
    check(1 <= cfg.workers <= 64, "workers must be 1..64")
    check(cfg.workers == 1 or cfg.server == "uvicorn", "workers > 1 needs server = uvicorn")
    check(cfg.sqlite_synchronous in _SYNCHRONOUS, f"sqlite_synchronous must be one of {_SYNCHRONOUS}")
    check(cfg.rate_limit_strategy in _STRATEGIES, f"rate_limit_strategy must be one of {_STRATEGIES}")
    check(0 < cfg.max_body_bytes <= cfg.max_batch_bytes, "need 0 < max_body_bytes <= max_batch_bytes")
    check(cfg.max_batch_count >= 1, "max_batch_count must be >= 1")
    check(1 <= cfg.max_depth <= 128, "max_depth must be 1..128")
    check(cfg.body_timeout_s > 0, "body_timeout_s must be > 0")
    check(cfg.head_timeout_s > 0 and cfg.idle_timeout_s > 0, "head_timeout_s and idle_timeout_s must be > 0")
    check(cfg.max_connections >= 1, "max_connections must be >= 1")
    check(cfg.max_age_ms > 0 and cfg.max_skew_ms >= 0, "max_age_ms must be > 0, max_skew_ms >= 0")
    check(cfg.challenge_ttl_ms > 0, "challenge_ttl_ms must be > 0")
    check(cfg.audit_receipt in _RECEIPTS, f"audit_receipt must be one of {_RECEIPTS}")
    check(cfg.audit_checkpoint_interval_s >= 0, "audit_checkpoint_interval_s must be >= 0")
    if cfg.admin_token is not None:
        problem = weak_token(cfg.admin_token)
        check(problem is None, f"admin_token {problem}")
    check(
        cfg.audit_log_key is None or cfg.audit_key_file is None,
        "set one of audit_key_file and audit_log_key, not both",
    )
    if cfg.audit_witness_url is not None:
        check(
            cfg.audit_witness_url.startswith(("http://", "https://")),
            "audit_witness_url must be http:// or https://",
        )
    if cfg.redis_url is not None:
        check(
            cfg.redis_url.startswith(("redis://", "rediss://", "unix://")),
            "redis_url must be redis://, rediss:// or unix://",
        )
    check(
        cfg.max_batch_bytes <= cfg.max_client_inflight_bytes <= cfg.max_inflight_bytes,
        "need max_batch_bytes <= max_client_inflight_bytes <= max_inflight_bytes",
    )
    check(
        1 <= cfg.max_client_inflight_jobs <= cfg.max_inflight_jobs,
        "need 1 <= max_client_inflight_jobs <= max_inflight_jobs",
    )
    for spec in (cfg.rate_limit_client, cfg.rate_limit_subject, cfg.auth_failure_limit):
        from limits import parse_many

        try:
            parse_many(spec)
        except ValueError:
            raise ConfigError(f"invalid rate limit {spec!r} (e.g. '100/second', '60/minute')") from None


def ensure_data_dir(cfg: Config) -> Path:
    """Creates the data directory (mode 0700) if needed, takes group and other access
    away from an existing one, and returns it."""
    cfg.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(cfg.data_dir.stat().st_mode)
    if mode & 0o077:
        log.warning("data directory %s had mode %o: tightened to %o", cfg.data_dir, mode, mode & 0o700)
        os.chmod(cfg.data_dir, mode & 0o700)
    return cfg.data_dir


# Written into a data directory the demo created: the demo (unauthenticated challenges,
# self-enrolment, a new API client per start) runs only on such a directory.
DEMO_MARKER = "DEMO"
# What a data directory that has served holds (any of them: not a fresh directory).
_RELAY_FILES = ("relay.sqlite3", "admin.token", "auditlog")


class DemoRefused(RuntimeError):
    """``demo`` on a data directory that a non-demo relay has used."""


def check_demo_data_dir(cfg: Config) -> None:
    """Demo mode only on a demo data directory (marked when the demo creates it), unless
    ``demo_force``; a relay out of demo mode on a demo directory is warned about."""
    marker = cfg.data_dir / DEMO_MARKER
    if not cfg.demo:
        if marker.exists():
            log.warning(
                "data directory %s was made by the demo: its registry holds self-enrolled demo keys"
                " and clients; use a fresh data directory for real enrolments",
                cfg.data_dir,
            )
        return
    used = [name for name in _RELAY_FILES if (cfg.data_dir / name).exists()]
    if used and not marker.exists():
        if not cfg.demo_force:
            raise DemoRefused(
                f"refusing demo mode on {cfg.data_dir}: it holds a relay's data ({', '.join(used)}) and was"
                " not made by the demo; the demo lets anyone mint challenges and enrol keys into this"
                " registry. Use a fresh --data-dir, or --demo-force if this really is a demo directory"
            )
        log.warning("demo mode forced on %s, a data directory not made by the demo", cfg.data_dir)
    else:
        marker.touch(mode=0o600, exist_ok=True)
    log.warning(
        "DEMO MODE: unauthenticated challenges and self-enrolment at /demo/ write into the registry"
        " of %s; never run it on a production relay",
        cfg.data_dir,
    )


def admin_token(cfg: Config, *, announce: typing.TextIO | None = sys.stderr) -> str:
    """The admin token: from the config/env, else the token file, else a new one.

    A new token is written to ``<data_dir>/admin.token`` with mode 0600 and
    printed once to ``announce``; it is never logged afterwards.
    """
    if cfg.admin_token:
        return cfg.admin_token
    path = cfg.resolved_admin_token_file()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        token = ""
    if token:
        problem = weak_token(token)
        if problem:
            raise ConfigError(f"admin token in {path} {problem}")
        return token
    ensure_data_dir(cfg)
    token = "pma_" + secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its token
        return admin_token(cfg, announce=None)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    if announce is not None:
        # Never the token itself: stderr ends up in journald and container logs.
        announce.write(
            f"proof-messenger relay: generated an admin token in {path} (mode 0600, the"
            f" service user only); use it with: Authorization: Bearer $(cat {path})\n"
        )
        announce.flush()
    return token


MIN_TOKEN_CHARS = 32
MIN_TOKEN_BITS = 96


def weak_token(token: str) -> str | None:
    """Why ``token`` is too weak to be the admin credential, or None.

    At least 32 characters, and not repetitive: length x log2(distinct characters) must
    reach 96 bits (32 x "a" gives 0, "password" four times 90; 32 random hex digits about
    120, a generated ``pma_`` token about 250). A rough bound on what a guesser faces,
    never a proof of randomness: generate tokens (``openssl rand -base64 32``)."""
    if len(token) < MIN_TOKEN_CHARS:
        return f"must have >= {MIN_TOKEN_CHARS} characters"
    if len(token) * math.log2(max(len(set(token)), 1)) < MIN_TOKEN_BITS:
        return "is too repetitive to be a secret (generate one: openssl rand -base64 32)"
    return None

"""Configuration: precedence flags > env > file > defaults, secure defaults, admin token."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest
from proof_messenger.auditlog.note import Signer
from proof_messenger.relay.audit import tamper_warnings, with_log_key
from proof_messenger.relay.cli import add_relay_arguments
from proof_messenger.relay.config import (
    Config,
    ConfigError,
    admin_token,
    ensure_data_dir,
    load_config,
    weak_token,
)


def test_secure_defaults() -> None:
    cfg = load_config(env={})
    assert cfg.host == "127.0.0.1" and not cfg.bind_public
    assert cfg.data_dir == Path("data")
    assert cfg.redis_url is None
    assert (cfg.max_body_bytes, cfg.max_batch_bytes, cfg.max_batch_count) == (65_536, 4 * 1024 * 1024, 1000)
    assert (cfg.max_age_ms, cfg.max_skew_ms) == (300_000, 30_000)
    assert cfg.log_context is False and cfg.demo is False and cfg.user == "proof-messenger"


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    toml = tmp_path / "relay.toml"
    toml.write_text('port = 1111\nhost = "10.0.0.1"\n[relay]\nmax_batch_count = 7\ndemo = true\n')
    env = {"PROOF_MESSENGER_PORT": "2222", "PROOF_MESSENGER_DATA_DIR": str(tmp_path / "d")}
    cfg = load_config(config_file=toml, env=env, flags={"port": "3333", "host": None})
    assert cfg.port == 3333  # flag beats env and file
    assert cfg.host == "10.0.0.1"  # None flag = not given; the file value stays
    assert cfg.max_batch_count == 7 and cfg.demo is True
    assert cfg.data_dir == tmp_path / "d"
    cfg = load_config(config_file=toml, env=env)
    assert cfg.port == 2222  # env beats file


def test_config_file_from_env(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("require_challenge = true\n")
    assert load_config(env={"PROOF_MESSENGER_CONFIG": str(toml)}).require_challenge is True


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"port": "http"}, "port"),
        ({"port": 70000}, "port"),
        ({"demo": "maybe"}, "demo"),
        ({"rate_limit_client": "lots"}, "rate limit"),
        ({"auth_failure_limit": "often"}, "rate limit"),
        ({"head_timeout_s": 0}, "head_timeout_s"),
        ({"idle_timeout_s": -1}, "idle_timeout_s"),
        ({"max_connections": 0}, "max_connections"),
        ({"max_client_inflight_bytes": 1024}, "max_client_inflight_bytes"),
        ({"max_client_inflight_jobs": 5000}, "max_client_inflight_jobs"),
        ({"server": "apache"}, "server"),
        ({"redis_url": "http://x"}, "redis_url"),
        ({"max_body_bytes": 10, "max_batch_bytes": 5}, "max_body_bytes"),
        ({"no_such_setting": 1}, "unknown"),
    ],
)
def test_invalid_values_are_refused(flags: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env={}, flags=flags)


def test_unknown_file_keys_are_refused(tmp_path: Path) -> None:
    toml = tmp_path / "relay.toml"
    toml.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_config(config_file=toml, env={})


def test_admin_token_generated_once_with_0600(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    cfg = load_config(env={}, flags={"data_dir": str(tmp_path / "data")})
    out = io.StringIO()
    token = admin_token(cfg, announce=out)
    path = tmp_path / "data" / "admin.token"
    assert len(token) >= 32 and weak_token(token) is None
    # the announcement says where the token is, never the token (stderr is logged)
    assert str(path) in out.getvalue() and token not in out.getvalue()
    assert token[4:12] not in out.getvalue()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "data").st_mode) == 0o700
    again = io.StringIO()
    assert admin_token(cfg, announce=again) == token and again.getvalue() == ""  # printed only once


@pytest.mark.parametrize(
    "token",
    ["a" * 32, "a" * 200, "ab" * 16, "password" * 4, "abcd" * 8, "short-but-random-Xk3"],
)
def test_a_weak_admin_token_is_refused_everywhere(tmp_path: Path, token: str) -> None:
    with pytest.raises(ConfigError, match="admin_token"):
        load_config(env={"PROOF_MESSENGER_ADMIN_TOKEN": token}, flags={"data_dir": str(tmp_path)})
    path = tmp_path / "admin.token"
    path.write_text(token + "\n")
    cfg = load_config(env={}, flags={"data_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match="admin token in"):
        admin_token(cfg, announce=None)


def test_tokens_people_generate_are_strong_enough() -> None:
    import secrets

    for _ in range(200):
        assert weak_token(secrets.token_hex(16)) is None  # 32 hex digits (openssl rand -hex 16)
        assert weak_token(secrets.token_urlsafe(32)) is None
    assert weak_token(STRONG) is None


def test_the_config_file_cannot_hold_the_admin_token(tmp_path: Path) -> None:
    toml = tmp_path / "relay.toml"
    toml.write_text(f'[relay]\nadmin_token = "{STRONG}"\n')
    with pytest.raises(ConfigError, match="PROOF_MESSENGER_ADMIN_TOKEN"):
        load_config(config_file=toml, env={})
    toml.write_text(f'admin_token = "{STRONG}"\n')  # top level too
    with pytest.raises(ConfigError, match="not read from files"):
        load_config(config_file=toml, env={})


def test_the_log_key_comes_from_the_environment_or_a_file_only(tmp_path: Path) -> None:
    toml = tmp_path / "relay.toml"
    toml.write_text('audit_log_key = "-----BEGIN PRIVATE KEY-----"\n')
    with pytest.raises(ConfigError, match="PROOF_MESSENGER_AUDIT_LOG_KEY"):
        load_config(config_file=toml, env={})
    with pytest.raises(ConfigError, match="not both"):
        load_config(env={"PROOF_MESSENGER_AUDIT_LOG_KEY": "k", "PROOF_MESSENGER_AUDIT_KEY_FILE": "/k"})
    parser = argparse.ArgumentParser()
    add_relay_arguments(parser)
    with pytest.raises(SystemExit):  # no flag: a secret on a command line shows in ps
        parser.parse_args(["--audit-log-key", "k"])
    assert "PEM" not in repr(load_config(env={"PROOF_MESSENGER_AUDIT_LOG_KEY": "PEM"}))


def test_the_log_key_file_is_read_before_the_privilege_drop(tmp_path: Path) -> None:
    """``with_log_key`` (called by serve while still root) holds the key itself; an invalid
    key is refused then, in one error, instead of failing in a worker."""
    signer = Signer.generate("o")
    key = tmp_path / "log.key"
    key.write_bytes(signer.to_pem())
    cfg = with_log_key(load_config(env={}, flags={"audit_key_file": str(key)}))
    key.unlink()  # what the unprivileged process could not read any more
    assert cfg.audit_log_key is not None
    assert Signer.from_pem("o", cfg.audit_log_key.encode()).verifier.key_hash == signer.verifier.key_hash
    key.write_text("not a key")
    with pytest.raises(ValueError, match="PKCS#8 PEM"):
        with_log_key(load_config(env={}, flags={"audit_key_file": str(key)}))
    with pytest.raises(OSError):
        with_log_key(load_config(env={}, flags={"audit_key_file": str(tmp_path / "missing")}))


def test_the_key_warning_follows_where_the_key_lives(tmp_path: Path) -> None:
    """The start warning and /readyz name a log key inside the data directory, also once
    with_log_key (serve, before the privilege drop) has read the file into the config."""
    data = tmp_path / "data"
    inside, outside = data / "keys" / "log.key", tmp_path / "log.key"
    for path in (inside, outside):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(Signer.generate("o").to_pem())

    def warns(**flags: str) -> bool:
        cfg = with_log_key(load_config(env={}, flags={"data_dir": str(data), **flags}))
        return any("key is inside the data directory" in w for w in tamper_warnings(cfg))

    assert warns()
    assert warns(audit_key_file=str(inside))
    assert not warns(audit_key_file=str(outside))
    env = load_config(
        env={"PROOF_MESSENGER_AUDIT_LOG_KEY": outside.read_text()}, flags={"data_dir": str(data)}
    )
    assert not any("key is inside" in w for w in tamper_warnings(env))


def test_an_existing_data_dir_is_made_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    ensure_data_dir(load_config(env={}, flags={"data_dir": str(data)}))
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_embedded_stores_are_owner_only_under_a_lax_umask(tmp_path: Path) -> None:
    """An embedded verifier runs under its host service's umask, not the relay's 077."""
    from proof_messenger.integrations import EmbeddedVerifier

    old = os.umask(0o022)
    try:
        v = EmbeddedVerifier(
            load_config(env={}, flags={"data_dir": str(tmp_path / "data"), "decision_log": ""}),
            audience="payments-api",
        )
        v.close()
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert any(p.name == "relay.sqlite3" for p in files)
    public = {"log.pub", "log.json"}  # the log's verification key and metadata, public by design
    lax = {
        str(p): oct(stat.S_IMODE(p.stat().st_mode))
        for p in files
        if p.stat().st_mode & 0o077 and p.name not in public
    }
    assert lax == {}
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700  # and all of it behind 0700


def test_admin_token_from_env_is_not_in_repr(tmp_path: Path) -> None:
    secret = STRONG
    cfg = load_config(env={"PROOF_MESSENGER_ADMIN_TOKEN": secret}, flags={"data_dir": str(tmp_path)})
    assert admin_token(cfg, announce=None) == secret
    assert secret not in repr(cfg)
    assert not (tmp_path / "admin.token").exists()
    with pytest.raises(ConfigError):
        load_config(env={"PROOF_MESSENGER_ADMIN_TOKEN": "short"})


def test_every_field_has_an_env_name() -> None:
    import dataclasses

    names = [f.name for f in dataclasses.fields(Config)]
    assert sorted(_SAMPLES) == sorted(names)  # a new field needs a sample here
    default = Config()
    for name in names:
        text, expected = _SAMPLES[name]
        cfg = load_config(env={"PROOF_MESSENGER_" + name.upper(): text})
        value = getattr(cfg, name)
        assert (type(value), value) == (type(expected), expected), name
        # the sample is not the default, so the value proves the variable was read
        assert value != getattr(default, name), name


STRONG = "Xk3_9vQz-2LmTa7RbW0cYd5NeHf1JgUp8s"  # 34 characters, 34 distinct

# field -> (environment value, the coerced value load_config must produce)
_SAMPLES: dict[str, tuple[str, object]] = {
    "host": ("::1", "::1"),
    "port": ("1", 1),
    "server": ("granian", "granian"),
    "workers": ("2", 2),
    "user": ("u", "u"),
    "allow_root": ("true", True),
    "graceful_timeout_s": ("1", 1.0),
    "head_timeout_s": ("4", 4.0),
    "idle_timeout_s": ("0.5", 0.5),
    "max_connections": ("50", 50),
    "data_dir": ("/tmp/x", Path("/tmp/x")),
    "redis_url": ("redis://h:1/0", "redis://h:1/0"),
    "sqlite_synchronous": ("full", "full"),
    "admin_token": (STRONG, STRONG),
    "admin_token_file": ("/tmp/t", Path("/tmp/t")),
    "audit_log_key": ("-----BEGIN PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----"),
    "max_body_bytes": ("100", 100),
    "max_batch_bytes": ("100000", 100_000),
    "max_batch_count": ("3", 3),
    "max_depth": ("8", 8),
    "body_timeout_s": ("2.5", 2.5),
    "max_age_ms": ("5", 5),
    "max_skew_ms": ("0", 0),
    "challenge_ttl_ms": ("9", 9),
    "require_challenge": ("yes", True),
    "rate_limit_client": ("5/second", "5/second"),
    "auth_failure_limit": ("3/minute", "3/minute"),
    "max_inflight_bytes": ("80000000", 80_000_000),
    "max_client_inflight_bytes": ("8000000", 8_000_000),
    "max_inflight_jobs": ("5000", 5000),
    "max_client_inflight_jobs": ("10", 10),
    "rate_limit_subject": ("1/hour", "1/hour"),
    "rate_limit_strategy": ("moving-window", "moving-window"),
    "decision_log": ("/tmp/log", "/tmp/log"),
    "log_context": ("1", True),
    "log_level": ("debug", "debug"),
    "audit_fsync": ("0", False),
    "audit_origin_prefix": ("relay.example", "relay.example"),
    "audit_node": ("n1", "n1"),
    "audit_key_file": ("/tmp/log.key", Path("/tmp/log.key")),
    "audit_encryption_key_file": ("/tmp/audit.keys", Path("/tmp/audit.keys")),
    "audit_witness_file": ("/tmp/witness", Path("/tmp/witness")),
    "audit_witness_url": ("https://witness.example/add-checkpoint", "https://witness.example/add-checkpoint"),
    "audit_checkpoint_interval_s": ("0.5", 0.5),
    "audit_receipt": ("full", "full"),
    "audit_inclusion_proof": ("true", True),
    "demo": ("on", True),
    "demo_force": ("true", True),
    "demo_audience": ("x", "x"),
    "wasm_dir": ("/tmp/w", Path("/tmp/w")),
    "webauthn_rp_id": ("bank.example", "bank.example"),
    "webauthn_origins": ("https://bank.example", "https://bank.example"),
    "webauthn_rp_name": ("Bank", "Bank"),
}


def test_workers_collect_the_first_generation_less_often() -> None:
    import gc

    from proof_messenger.relay.cli import GC_THRESHOLDS, tune_gc

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] > 700
    finally:
        gc.set_threshold(*before)

"""``proof-messenger relay``: bind, drop privileges, serve.

Every :class:`~proof_messenger.relay.config.Config` field is a flag
(``--max-batch-count 500``, ``--demo`` / ``--no-demo``); flags override
``PROOF_MESSENGER_*`` variables, which override the ``--config`` TOML file.

The socket is bound first (so a privileged port works), then a process
started as root switches to ``--user`` (default ``proof-messenger``, a dedicated
system user) — or refuses to
run if that is impossible — and only then opens the data directory and
serves. SIGTERM/SIGINT stop accepting connections, let in-flight requests
finish (``graceful_timeout_s``), then fsync and close the stores.
"""

from __future__ import annotations

import argparse
import logging
import os
import pwd
import socket
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from proof_messenger.auditlog import LogCorrupted

from .audit import with_log_key
from .config import (
    FIELDS,
    SECRETS,
    Config,
    ConfigError,
    DemoRefused,
    admin_token,
    check_demo_data_dir,
    ensure_data_dir,
    load_config,
)

# The exit status of a relay that refuses to start on a damaged audit log or a data
# directory its mode must not use (EX_CONFIG in sysexits.h): a supervisor must not
# restart it into the same refusal.
EXIT_CONFIG = 78
EXIT_LOG_CORRUPTED = EXIT_CONFIG

log = logging.getLogger("proof_messenger.relay")

_HELP = {
    "host": "address to bind (default 127.0.0.1: loopback only)",
    "port": "TCP port (0 = any free port; the chosen one is printed)",
    "data_dir": "data directory: SQLite database, audit log, admin token (default ./data)",
    "redis_url": "share nonces, challenges and rate limits through Redis (redis://host:6379/0)",
    "demo": "serve the wire-transfer demo at /demo/",
    "user": "unprivileged user to switch to when started as root (default proof-messenger)",
    "server": "ASGI server: uvicorn (default) or granian",
    "workers": "worker processes sharing the socket (default 1; >1: add --redis-url for exact rate limits)",
}


def add_relay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="TOML configuration file (or $PROOF_MESSENGER_CONFIG)"
    )
    hints = typing.get_type_hints(Config)
    for name in FIELDS:
        if name in SECRETS:
            continue  # secrets never on a command line (visible in ps); use the env or their file
        flag = "--" + name.replace("_", "-")
        helptext = _HELP.get(name, f"see docs/RELAY.md (default {FIELDS[name].default!r})")
        if hints[name] is bool:
            parser.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=helptext
            )
        else:
            parser.add_argument(
                flag, dest=name, default=None, metavar=name.split("_")[-1].upper(), help=helptext
            )


def config_from_args(args: argparse.Namespace) -> Config:
    flags = {name: getattr(args, name, None) for name in FIELDS if name not in SECRETS}
    return load_config(config_file=args.config, flags=flags)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def chown_tree(top: Path, uid: int, gid: int) -> None:
    """``chown -R`` that follows no symlink, not even in the middle of a path.

    The data directory belongs to the service user, who could swap a subdirectory for
    a symlink to /etc while root walks it; a chown by path would then follow it. Here
    every entry is changed relative to its opened parent directory (``os.fwalk`` opens
    each directory it enters and checks that it is the one it listed), and symlinks
    themselves are changed, not their targets. ``top`` itself is resolved first: a
    symlinked data directory set up by root is fine."""
    top = top.resolve(strict=True)
    for _path, dirnames, filenames, dirfd in os.fwalk(top, follow_symlinks=False):
        os.chown(dirfd, uid, gid)
        for name in (*dirnames, *filenames):
            try:
                os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                pass  # removed or renamed since it was listed: nothing to hand over


def drop_privileges(cfg: Config) -> None:
    """As root: chown the data directory to ``cfg.user`` and switch to it, or exit."""
    if os.geteuid() != 0:
        return
    if cfg.allow_root:
        log.warning("running as root because allow_root is set; this is not recommended")
        return
    try:
        pw = pwd.getpwnam(cfg.user)
    except KeyError:
        raise SystemExit(
            f"refusing to run as root: user {cfg.user!r} does not exist; create a dedicated one"
            f" (useradd --system --no-create-home --shell /usr/sbin/nologin {cfg.user}) or set --user"
        ) from None
    if cfg.user == "nobody":
        # nobody is shared by every daemon that drops to it: each could read the admin
        # token and the audit log key.
        log.warning("user 'nobody' is shared with other services; use a dedicated user")
    if pw.pw_uid == 0:
        raise SystemExit("refusing to run as root: --user names a root account")
    chown_tree(cfg.data_dir, pw.pw_uid, pw.pw_gid)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean the drop did not happen
        raise SystemExit("privilege drop failed")
    os.environ["HOME"] = pw.pw_dir
    if not os.access(cfg.data_dir, os.R_OK | os.W_OK | os.X_OK):
        raise SystemExit(
            f"user {cfg.user!r} cannot use the data directory {cfg.data_dir}"
            " (are its parent directories traversable?)"
        )
    log.info("dropped privileges to %s (uid %d)", cfg.user, pw.pw_uid)


def _configure_logging(cfg: Config) -> None:
    from .events import configure_decision_log

    logging.basicConfig(
        level=getattr(logging, cfg.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    configure_decision_log(cfg.decision_log)


# Modules that the libraries import on first use, which comes after the privilege drop;
# private and version-specific, so each is imported only where it exists.
_LAZY_MODULES = (
    "anyio._backends._asyncio",  # anyio's event loop backend: on the first to_thread call
    "fastapi.telemetry._runtime",  # on the lifespan's start
    "pydantic.v1",  # while create_app registers the routes (FastAPI checks for v1 models)
)


def _preload(cfg: Config) -> None:
    """Imports what serving needs while still privileged: the interpreter's own
    files may be unreadable to the unprivileged user (e.g. a Python under /root).
    tests/relay/attacks/test_root_imports.py fails on any import after the drop."""
    import codecs
    import importlib
    import warnings

    import anyio.to_thread  # noqa: F401
    import uvicorn.lifespan.on
    import uvicorn.loops.uvloop
    import uvicorn.protocols.http.httptools_impl  # noqa: F401

    from .http import app, connections  # noqa: F401
    from .http.routes import demo  # noqa: F401

    for name in _LAZY_MODULES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydantic.v1 warns on newer Pythons
                importlib.import_module(name)
        except ImportError:
            pass
    # Codecs are modules too, imported on their first lookup.
    codecs.lookup("idna")  # socket.getaddrinfo encodes host names with it: Redis, the witness
    codecs.lookup("ascii")  # text files in ASCII (stores.replay: the Redis epoch file)
    if cfg.redis_url:
        import limits.storage.redis  # noqa: F401
        import redis  # noqa: F401
    if cfg.audit_witness_url:  # auditlog.witness imports httpx on the first push
        import certifi  # noqa: F401
        import httpcore  # noqa: F401
        import httpx  # noqa: F401

        from proof_messenger.auditlog.witness import preload_tls

        preload_tls()  # the CA bundle is a file the service user may not be able to read


def serve(cfg: Config) -> int:
    os.umask(0o077)  # database, audit log and token file: owner only
    _configure_logging(cfg)
    if cfg.bind_public:
        log.warning("binding %s: the relay is reachable from other hosts; put TLS in front of it", cfg.host)
    sock = bind_socket(cfg.host, cfg.port)
    host, port = sock.getsockname()[:2]
    # Create the data dir and admin token before dropping root, then hand them over;
    # the stores are opened after the drop so that their files belong to the user.
    ensure_data_dir(cfg)
    try:
        check_demo_data_dir(cfg)
    except DemoRefused as exc:
        print(f"proof-messenger relay: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    admin_token(cfg)
    try:
        cfg = with_log_key(cfg)  # while privileged: the key file may be readable by root only
    except (OSError, ValueError) as exc:
        print(f"proof-messenger relay: cannot use the audit log key: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    _preload(cfg)
    drop_privileges(cfg)

    if cfg.workers > 1:
        return _prefork(cfg, sock, host, port)
    return _run_worker(cfg, sock, host, port)


def _run_worker(cfg: Config, sock: socket.socket, host: str, port: int) -> int:
    from .http import create_app

    try:
        app = create_app(cfg)  # opens the stores: after the privilege drop and in the worker process
    except LogCorrupted as exc:
        print(f"proof-messenger relay: refusing to start: {exc}", file=sys.stderr, flush=True)
        return EXIT_LOG_CORRUPTED
    tune_gc()
    print(
        f"proof-messenger relay listening on http://{host}:{port} (data: {cfg.data_dir})",
        file=sys.stderr,
        flush=True,
    )
    if cfg.demo:
        print(f"  demo: http://{host}:{port}/demo/", file=sys.stderr, flush=True)
    if cfg.server == "granian":
        return _serve_granian(cfg, sock, app)
    return _serve_uvicorn(cfg, sock, app)


# Python's default first-generation threshold (700) runs the cyclic collector every few
# requests here: a proof allocates dozens of short-lived containers, nearly all freed by
# reference counting. Measured with gc.callbacks over 10 s of wrk (minus an
# idle run's startup): 5.9 µs of collection per single proof and 1.3 µs per batched proof
# with 700; with 10,000, at most one collection per run.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Runs the cyclic collector's first generation less often (``GC_THRESHOLDS``)."""
    import gc

    gc.set_threshold(*GC_THRESHOLDS)


def _prefork(cfg: Config, sock: socket.socket, host: str, port: int) -> int:
    """N worker processes accept on the one bound socket; SIGTERM/SIGINT are passed
    on (each worker drains), a worker that dies otherwise is restarted."""
    import signal
    import time

    children: dict[int, int] = {}
    stopping = False

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # worker
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            code = 1
            try:
                code = _run_worker(cfg, sock, host, port)
            except SystemExit as exc:  # as the interpreter exits: None is 0, a message 1
                code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
                if not isinstance(exc.code, int | None):
                    print(f"proof-messenger relay: {exc.code}", file=sys.stderr, flush=True)
            except BaseException:
                # os._exit skips the interpreter's own report: without this, a crashing
                # worker showed only as "exited; restarting" in the supervisor's log.
                log.exception("worker %d failed", slot)
            finally:
                os._exit(code)
        children[pid] = slot

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for slot in range(cfg.workers):
        spawn(slot)
    failed = corrupted = False
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        slot = children.pop(pid, -1)
        if slot < 0:
            continue
        if not stopping and os.waitstatus_to_exitcode(status) == EXIT_LOG_CORRUPTED:
            corrupted = True  # every worker would refuse the same log: stop them all
            stop(signal.SIGTERM, None)
            continue
        if not stopping:
            log.error("worker %d exited (status %d); restarting it", pid, status)
            time.sleep(0.5)
            spawn(slot)
        elif os.waitstatus_to_exitcode(status) != 0:
            failed = True
    log.info("relay stopped")
    if corrupted:
        return EXIT_LOG_CORRUPTED
    return 1 if failed else 0


def _serve_uvicorn(cfg: Config, sock: socket.socket, app: Any) -> int:
    import uvicorn

    from .http.connections import ConnectionLimits, fit_fd_limit, protocol_class

    limits = ConnectionLimits(
        head_timeout_s=cfg.head_timeout_s,
        idle_timeout_s=cfg.idle_timeout_s,
        max_connections=fit_fd_limit(cfg.max_connections),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            loop="uvloop",
            http=protocol_class(limits),
            ws="none",  # no WebSocket routes (and "auto" imports a library after the drop)
            lifespan="on",
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=limits.idle_timeout_s,  # type: ignore[arg-type]
            timeout_graceful_shutdown=int(cfg.graceful_timeout_s),
            log_level=cfg.log_level.lower(),
            log_config=None,
        )
    )
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; a completed
    # drain is a normal stop for a daemon, so those re-raised signals are ignored.
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run(sockets=[sock])
    log.info("relay stopped")
    return 0


def _serve_granian(cfg: Config, sock: socket.socket, app: Any) -> int:
    # Granian binds its own socket in Rust; it is supported for measurement and
    # for unprivileged ports only (no bind-then-drop).
    from granian.constants import Interfaces
    from granian.server.embed import Server

    host, port = sock.getsockname()[:2]
    sock.close()
    log.warning("granian: head_timeout_s, idle_timeout_s and max_connections are not applied (uvicorn only)")
    if os.geteuid() == 0 and not cfg.allow_root:
        raise SystemExit("granian cannot bind before the privilege drop; use --server uvicorn")
    import asyncio

    server = Server(app, address=host, port=port, interface=Interfaces.ASGI)
    asyncio.run(server.serve())
    return 0


def relay_main(argv: Sequence[str] | None = None, prog: str = "proof-messenger relay") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Run the proof-messenger Relay Server.")
    add_relay_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
    return serve(cfg)


def data_dir_arg(value: str) -> Path:
    return Path(value)

"""The log: group commit, checkpoints, receipts, recovery after crashes, witnesses, slots."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import typing
from pathlib import Path

import pytest
from proof_messenger.auditlog import (
    AuditLog,
    FileWitness,
    HttpWitness,
    LogBusy,
    LogCorrupted,
    LogFailed,
    audit_log,
    merkle,
    open_node_log,
    verify_receipt,
)
from proof_messenger.auditlog.auditor import read_checkpoint_files
from proof_messenger.auditlog.entry import make_leaf
from proof_messenger.auditlog.note import Checkpoint, Signer, Verifier, open_checkpoint, open_note, sign_note
from proof_messenger.auditlog.store import CHECKPOINTS, ENTRIES, INDEX, TREE

from .conftest import Lines, build_log, record


def test_receipts_verify_offline(tmp_path: Path) -> None:
    with AuditLog.open(tmp_path / "log", origin="example.com/log", background=False) as log:
        receipts = [log.append(record(i)) for i in range(13)]
        vkey = log.verifier
    for i, r in enumerate(receipts):
        assert r.index == i and r.receipt_id.endswith(f"_{i}")
        assert open_checkpoint(r.checkpoint or "", [vkey]).size == i + 1
        check = verify_receipt(r.to_dict(), trusted=[vkey])
        assert check.ok, check.message
        assert check.entry is not None and check.entry["signedDigest"] == f"{i:064x}"


def test_entries_written_by_the_caller_land_like_records(tmp_path: Path) -> None:
    """append_entries (the relay's native writer) gives the receipts append_many gives;
    a writer that raises appends nothing."""
    with AuditLog.open(tmp_path / "a", origin="example.com/log", background=False) as a:
        expected = a.append_many([record(i) for i in range(4)])
    with AuditLog.open(tmp_path / "b", origin="example.com/log", background=False) as b:
        with pytest.raises(ValueError):
            b.append_entries(lambda first, log_id: (_ for _ in ()).throw(ValueError("refused")))
        assert b.size == 0
        got = b.append_entries(
            lambda first, log_id: [make_leaf(record(i), index=first + i, log_id=log_id) for i in range(4)]
        )
        b.commit()
        assert b.append_entries(lambda first, log_id: []) == []
    assert got == expected


def test_proofs_from_the_store_match_an_independent_tree(tmp_path: Path) -> None:
    from . import reference as ref

    with AuditLog.open(tmp_path / "log", origin="example.com/log", background=False) as log:
        for start in range(0, 45, 4):
            log.append_many([record(i) for i in range(start, start + 4)])
            log.commit()
        leaves = [log.entry(i) for i in range(log.latest.size)]
        size = log.latest.size
        assert log.latest.root == ref.mth(leaves)
        for m in (0, 1, 17, size - 1):
            assert log.inclusion_proof(m, size) == ref.path(m, leaves)
        for old in (1, 8, 13, size):
            assert log.consistency_proof(old, size) == ref.proof(old, leaves)
        with pytest.raises(ValueError):
            log.inclusion_proof(0, size + 1)  # never a proof for an unsigned size


def test_group_commit_shares_fsyncs_between_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with AuditLog.open(tmp_path / "log", origin="example.com/log", background=False) as log:
        syncs = 0
        real = log._store.sync

        def slow_sync() -> None:
            nonlocal syncs
            syncs += 1
            time.sleep(0.002)  # a disk
            real()

        monkeypatch.setattr(log._store, "sync", slow_sync)
        got: list[int] = []
        lock = threading.Lock()

        def worker(t: int) -> None:
            for k in range(50):
                r = log.append(record(t * 1000 + k), proof=False)
                assert (
                    r.checkpoint is not None and open_checkpoint(r.checkpoint, [log.verifier]).size > r.index
                )
                with lock:
                    got.append(r.index)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(got) == list(range(400))
        assert syncs < 400 / 2, syncs  # one fsync served many appends
    assert audit_log(tmp_path / "log").ok


def test_checkpoints_are_persisted_periodically_and_on_close(tmp_path: Path) -> None:
    with AuditLog.open(tmp_path / "log", origin="example.com/log", checkpoint_interval=0.05) as log:
        log.append_many([record(i) for i in range(3)])
        log.commit()
        deadline = (
            time.monotonic() + 30
        )  # generous (the interval is 50 ms): it only catches a ticker that never runs
        while not log.persisted_checkpoints() or "\n3\n" not in log.persisted_checkpoints()[-1]:
            assert time.monotonic() < deadline, "no checkpoint of size 3 was persisted by the ticker"
            time.sleep(0.02)
        log.append_many([record(3)])  # appended, never committed by a caller
    notes = read_checkpoint_files([tmp_path / "log" / CHECKPOINTS])
    assert notes[-1][0].split("\n")[1] == "4"  # close() committed and persisted it
    assert audit_log(tmp_path / "log").ok


def test_one_writer_per_log_and_slots_per_process(tmp_path: Path) -> None:
    with AuditLog.open(tmp_path / "log", origin="example.com/log", background=False):
        with pytest.raises(LogBusy):
            AuditLog.open(tmp_path / "log", background=False)
    root = tmp_path / "auditlog"
    a = open_node_log(root, node="host", background=False)
    b = open_node_log(root, node="host", background=False)
    try:
        assert (a.directory.name, b.directory.name) == ("host-0", "host-1")
        assert (a.origin, b.origin) == ("proof-messenger/host-0", "proof-messenger/host-1")
        assert a.verifier != b.verifier  # each log its own key
    finally:
        a.close()
        b.close()
    again = open_node_log(root, node="host", background=False)
    assert again.directory.name == "host-0"  # a restarted process takes a free slot back
    again.close()


def test_relays_on_one_host_never_share_an_origin(tmp_path: Path) -> None:
    """Two data directories on one host, default node: each log has an origin of its
    own (one origin, two trees would look like a fork to a witness), kept on restart."""
    import re
    import socket

    host = socket.gethostname()
    first = open_node_log(tmp_path / "relay-a" / "auditlog", background=False)
    second = open_node_log(tmp_path / "relay-b" / "auditlog", background=False)
    try:
        assert first.origin != second.origin
        for alog in (first, second):
            assert re.fullmatch(rf"proof-messenger/{re.escape(host)}-[0-9a-f]{{8}}-0", alog.origin)
            assert alog.directory.name == f"{host}-0"
        origins = (first.origin, second.origin)
    finally:
        first.close()
        second.close()
    again = open_node_log(tmp_path / "relay-a" / "auditlog", background=False)
    other_slot = open_node_log(tmp_path / "relay-a" / "auditlog", background=False)
    try:
        assert again.origin == origins[0]  # a restart continues the same log
        assert other_slot.origin not in origins and other_slot.origin.endswith("-1")
    finally:
        again.close()
        other_slot.close()


def test_an_existing_log_keeps_its_origin_and_key(tmp_path: Path) -> None:
    build_log(tmp_path / "log", entries=5)
    with AuditLog.open(tmp_path / "log", origin="example.com/other", background=False) as log:
        assert log.origin == "example.com/audit/0" and log.size == 5
    (tmp_path / "log" / "log.key").write_bytes(Signer.generate("x").to_pem())
    with pytest.raises(ValueError, match="does not match"):
        AuditLog.open(tmp_path / "log", background=False)


# --- recovery -----------------------------------------------------------------------------------


def reopen(d: Path) -> AuditLog:
    return AuditLog.open(d, background=False)


def test_a_torn_last_write_is_cut_back(tmp_path: Path) -> None:
    d = build_log(tmp_path / "log", entries=20)
    full = Lines(d).leaf(3)
    with (d / ENTRIES).open("ab") as fh:
        fh.write(full[: len(full) // 2])  # a leaf cut short, no newline
    with reopen(d) as log:
        assert log.recovery is not None and log.recovery.dropped_bytes == len(full) // 2
        assert log.size == 20
        log.append(record(20))
    assert audit_log(d).ok


def test_uncommitted_and_forged_lines_are_never_adopted(tmp_path: Path) -> None:
    from .test_auditor import forged

    d = build_log(tmp_path / "log", entries=20)
    line = forged(d, 20, subject="mallory")
    fake_marker = b'{"commit":{"mac":"AAAAAAAAAAAAAAAAAAAAAA==","root":"' + b"A" * 43 + b'=","size":21}}'
    with (d / ENTRIES).open("ab") as fh:
        fh.write(line + b"\n" + fake_marker + b"\n")
    with reopen(d) as log:
        assert log.recovery is not None and log.recovery.dropped_leaves == 1
        assert log.size == 20
        assert b"mallory" not in (d / ENTRIES).read_bytes()
    assert audit_log(d).ok


def test_entries_committed_but_not_yet_checkpointed_survive(tmp_path: Path) -> None:
    d = tmp_path / "log"
    log = AuditLog.open(d, origin="example.com/log", background=False, checkpoint_interval=3600)
    log.append(record(0))
    log.checkpoint()
    log.append_many([record(i) for i in range(1, 5)])
    log.commit()  # durable and acknowledged, not persisted as a checkpoint yet
    log._store.close()  # simulate a crash: no close(), no final checkpoint
    os.close(log._lock_fd)
    assert not audit_log(d).ok  # offline, before restart: 5 entries no persisted checkpoint covers
    with reopen(d) as log2:
        assert log2.size == 5 and log2.recovery is not None and log2.recovery.replayed == 4
    assert audit_log(d).ok


def test_damaged_caches_are_rebuilt_from_the_entries(tmp_path: Path) -> None:
    d = build_log(tmp_path / "log", entries=30)
    (d / TREE).unlink()
    (d / INDEX).write_bytes(b"\x00" * 7)
    with reopen(d) as log:
        assert log.recovery is not None and log.recovery.rebuilt
        r = log.receipt(11)
        assert verify_receipt(r, trusted=[log.verifier]).ok
    assert audit_log(d).ok


def test_a_log_truncated_below_its_checkpoint_refuses_to_open(tmp_path: Path) -> None:
    d = build_log(tmp_path / "log", entries=30)
    lines = Lines(d)
    lines.lines = lines.lines[: lines.leaf_positions()[25]]
    lines.write()
    with pytest.raises(LogCorrupted):
        reopen(d)
    lines = Lines(build_log(tmp_path / "log2", entries=30))
    lines.set_leaf(4, lines.leaf(4).replace(b"user4", b"userX"))
    lines.write()
    (tmp_path / "log2" / TREE).unlink()  # forces the full rebuild, which must fail on the signed root
    with pytest.raises(LogCorrupted):
        reopen(tmp_path / "log2")


def test_a_torn_checkpoint_record_is_cut(tmp_path: Path) -> None:
    d = build_log(tmp_path / "log", entries=10)
    with (d / CHECKPOINTS).open("a") as fh:
        fh.write("example.com/audit/0\n11\nAAAA")
    with reopen(d) as log:
        assert log.size == 10
    assert audit_log(d).ok


def test_a_failed_fsync_poisons_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog.open(tmp_path / "log", origin="example.com/log", background=False)
    log.append_many([record(0)])

    def broken() -> None:
        raise OSError(5, "EIO")

    monkeypatch.setattr(log._store, "sync", broken)
    with pytest.raises(OSError):
        log.commit()
    with pytest.raises(LogFailed):
        log.append_many([record(1)])
    log.close()


# --- witnesses ----------------------------------------------------------------------------------


def test_file_witness_receives_checkpoints(tmp_path: Path) -> None:
    w = tmp_path / "witness" / "log.checkpoints"
    w.parent.mkdir()
    with AuditLog.open(
        tmp_path / "log", origin="example.com/log", witnesses=[FileWitness(w)], background=False
    ) as log:
        for i in range(3):
            log.append(record(i))
            log.checkpoint()
            log._pusher.flush()
    notes = read_checkpoint_files([w])
    assert [open_checkpoint(n, [log.verifier]).size for n, _ in notes] == [1, 2, 3]


class TinyWitness(http.server.BaseHTTPRequestHandler):
    """Just enough of C2SP tlog-witness add-checkpoint to test the client."""

    log_key: Verifier
    signer = Signer.generate("witness.example/w1")
    size = 0
    root = merkle.EMPTY_ROOT
    requests: typing.ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        TinyWitness.requests.append(body)
        head, _, note = body.partition("\n\n")
        lines = head.split("\n")
        old = int(lines[0].removeprefix("old "))
        proof = [__import__("base64").b64decode(x) for x in lines[1:]]
        cp = open_checkpoint(note, [self.log_key])
        if old != TinyWitness.size:
            return self.reply(409, f"{TinyWitness.size}\n", "text/x.tlog.size")
        try:
            merkle.verify_consistency(old, cp.size, proof, TinyWitness.root, cp.root_hash)
        except merkle.ProofError:
            return self.reply(422, "bad proof\n")
        TinyWitness.size, TinyWitness.root = cp.size, cp.root_hash
        cosig = sign_note(open_note(note, [self.log_key]).text, self.signer).split("\n\n")[-1]
        self.reply(200, cosig)

    def reply(self, status: int, text: str, ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(text.encode())))
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args: object) -> None:
        pass


def test_http_witness_speaks_tlog_witness(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TinyWitness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/add-checkpoint"
    try:
        log = AuditLog.open(tmp_path / "log", origin="example.com/log", background=False)
        TinyWitness.log_key = log.verifier
        log.close()
        witness = HttpWitness(url)
        with AuditLog.open(tmp_path / "log", witnesses=[witness], background=False) as log:
            for i in range(5):
                log.append(record(i))
                log.checkpoint()
                log._pusher.flush()
            assert TinyWitness.size == 5 and witness.old_size == 5
            assert witness.cosignatures and witness.cosignatures[0].startswith("\u2014 witness.example/w1 ")
        # A fresh client does not know where the witness is: 409, then a proof from its size.
        witness2 = HttpWitness(url)
        with AuditLog.open(tmp_path / "log", witnesses=[witness2], background=False) as log:
            for i in range(5, 8):
                log.append(record(i))
            log.checkpoint()
            log._pusher.flush()
        assert TinyWitness.size == 8 and witness2.old_size == 8
        after_restart = [r.split("\n", 1)[0] for r in TinyWitness.requests[5:]]
        assert after_restart[:2] == ["old 0", "old 5"]  # 409 Conflict told us the witness's size
    finally:
        server.shutdown()


def test_a_dead_witness_never_blocks_the_log(tmp_path: Path) -> None:
    """A witness that takes the request and never answers: the log appends and checkpoints on.

    Proved by order, not by a time bound: the witness holds the first push until the log
    has done all its work, so a log that waited for the witness could not finish (the
    client's timeout, 120 s, is far beyond the deadlines). The 30 s deadlines are generous
    (the work takes milliseconds): they only turn such a hang into a failure.
    """
    received, release = threading.Event(), threading.Event()

    class HungWitness(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            received.set()
            release.wait(60)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HungWitness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    witness = HttpWitness(f"http://127.0.0.1:{server.server_address[1]}/add-checkpoint", timeout=120)
    done = threading.Event()
    try:
        with AuditLog.open(
            tmp_path / "log", origin="example.com/log", witnesses=[witness], background=False
        ) as log:

            def work() -> None:
                log.append(record(0))
                log.checkpoint()
                if not received.wait(30):  # the first push is now held by the witness
                    return
                for i in range(1, 5):
                    log.append(record(i))
                    log.checkpoint()
                done.set()

            worker = threading.Thread(target=work, daemon=True)
            worker.start()
            assert received.wait(30), "the checkpoint was never pushed to the witness"
            assert done.wait(30), "the log waited for a witness that does not answer"
            assert (witness.old_size, witness.cosignatures) == (0, [])  # it never answered meanwhile
            assert log.size == 5
            release.set()
            worker.join(30)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
    assert audit_log(tmp_path / "log").ok


def test_receipt_json_round_trip(tmp_path: Path) -> None:
    from proof_messenger.auditlog import Receipt

    with AuditLog.open(tmp_path / "log", origin="example.com/log", background=False) as log:
        r = log.append(record(0))
    again = Receipt.from_dict(json.loads(json.dumps(r.to_dict())))
    assert again == r
    assert Checkpoint.from_text(open_note(r.checkpoint or "", [log.verifier]).text).size == 1


def test_http_witness_pushes_with_the_preloaded_tls_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay loads the CA bundle before dropping root (preload_tls): a push after that
    reads no certificate file (the service user may not be able to), and reuses one client."""
    import ssl

    from proof_messenger.auditlog import witness as witness_module

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TinyWitness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/add-checkpoint"
    monkeypatch.setattr(witness_module, "_TLS", None)
    try:
        witness_module.preload_tls()
        assert isinstance(witness_module._TLS, ssl.SSLContext)

        def no_bundle(*_a: object, **_k: object) -> None:
            raise PermissionError(13, "the CA bundle is unreadable after the privilege drop")

        monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", no_bundle)
        log = AuditLog.open(tmp_path / "log", origin="example.com/tls", background=False)
        TinyWitness.log_key, TinyWitness.size, TinyWitness.root = log.verifier, 0, merkle.EMPTY_ROOT
        log.close()
        pushed = HttpWitness(url)
        with AuditLog.open(tmp_path / "log", witnesses=[pushed], background=False) as log:
            for i in range(3):
                log.append(record(i))
                log.checkpoint()
                log._pusher.flush()
            client = pushed._client
        assert TinyWitness.size == 3 and pushed.old_size == 3 and pushed._client is client is not None
        monkeypatch.setattr(witness_module, "_TLS", None)  # without the preload the bundle is read
        with pytest.raises(PermissionError):
            HttpWitness(url)._http()
    finally:
        server.shutdown()

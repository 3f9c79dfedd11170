"""Tamper tests: every way of editing a log is detected, naming the first bad entry's index."""

from __future__ import annotations

import base64
import json
import random
import shutil
from pathlib import Path
from typing import Any

import proof_messenger as pm
import pytest
from proof_messenger.auditlog import AuditLog, Keyring, Signer, audit_data_dir, audit_log
from proof_messenger.auditlog.cli import main as cli
from proof_messenger.auditlog.log import KEY, read_meta
from proof_messenger.auditlog.note import Checkpoint, Verifier, sign_note
from proof_messenger.auditlog.store import CHECKPOINTS, ENTRIES, INDEX, TREE

from .conftest import Lines, build_log, record

N = 60  # entries in the test log; a checkpoint every 7


def pinned(log_dir: Path) -> list[Verifier]:
    return [Verifier.from_vkey(read_meta(log_dir)["vkey"])]


def assert_tampered(log_dir: Path, index: int, *kinds: str) -> None:
    report = audit_log(log_dir, trusted=pinned(log_dir))
    assert not report.ok, report
    assert report.first_bad_index == index, report.findings
    if kinds:
        assert report.findings[0].kind in kinds, report.findings


def test_an_untouched_log_verifies(log_dir: Path) -> None:
    report = audit_log(log_dir, trusted=pinned(log_dir))
    assert report.ok, report.findings
    assert (report.entries, report.verified_size) == (N, N)
    assert report.checkpoints == -(-N // 7)


@pytest.mark.parametrize("index", [0, 1, 6, 7, 30, 58, 59])
def test_flip_a_byte_in_an_entry(log_dir: Path, index: int) -> None:
    rnd = random.Random(index)
    for _trial in range(5):
        work = log_dir.parent / f"flip{_trial}"
        shutil.copytree(log_dir, work)
        lines = Lines(work)
        leaf = bytearray(lines.leaf(index))
        pos = rnd.randrange(len(leaf))
        leaf[pos] ^= 1 << rnd.randrange(8)
        # a flipped-in newline splits the line: entry `index` is still the first one changed
        lines.set_leaf(index, bytes(leaf))
        lines.write()
        assert_tampered(work, index)


def test_flip_the_newline_after_an_entry(log_dir: Path) -> None:
    path = log_dir / ENTRIES
    data = bytearray(path.read_bytes())
    lines = Lines(log_dir)
    end = sum(len(line) + 1 for line in lines.lines[: lines.leaf_positions()[20] + 1]) - 1
    data[end] = ord(" ")  # entries 20 and the next line merge
    path.write_bytes(bytes(data))
    assert_tampered(log_dir, 20, "malformed")


def test_a_valid_looking_edit_is_pinned_exactly(log_dir: Path) -> None:
    """Changing 'rejected' to 'accepted' keeps valid JSON: found through the authenticated tree cache."""
    lines = Lines(log_dir)
    leaf = lines.leaf(33)
    assert b'"rejected"' in leaf
    lines.set_leaf(33, leaf.replace(b'"rejected"', b'"accepted"').replace(b'"bad_signature"', b"null"))
    lines.write()
    assert_tampered(log_dir, 33, "modified")


@pytest.mark.parametrize("index", [0, 13, 14, 40])
def test_delete_an_entry(log_dir: Path, index: int) -> None:
    lines = Lines(log_dir)
    del lines.lines[lines.leaf_positions()[index]]
    lines.write()
    assert_tampered(log_dir, index, "deleted")


def test_delete_the_last_entry_is_a_truncation(log_dir: Path) -> None:
    lines = Lines(log_dir)
    del lines.lines[lines.leaf_positions()[N - 1]]
    lines.write()
    assert_tampered(log_dir, N - 1, "truncated")


@pytest.mark.parametrize(("i", "j"), [(0, 1), (3, 50), (20, 21), (57, 59)])
def test_swap_two_entries(log_dir: Path, i: int, j: int) -> None:
    lines = Lines(log_dir)
    a, b = lines.leaf(i), lines.leaf(j)
    lines.set_leaf(i, b)
    lines.set_leaf(j, a)
    lines.write()
    assert_tampered(log_dir, i, "reordered")


def forged(log_dir: Path, index: int, **kw: object) -> bytes:
    """A well-formed entry for this log (what an intruder without the key can write)."""
    from proof_messenger.auditlog.entry import log_id_of, make_leaf

    origin = read_meta(log_dir)["origin"]
    return make_leaf(
        record(index, decision="accepted", reason=None, **kw), index=index, log_id=log_id_of(origin)
    )


def test_append_a_forged_entry(log_dir: Path) -> None:
    with (log_dir / ENTRIES).open("ab") as fh:
        fh.write(forged(log_dir, N, subject="mallory") + b"\n")
    assert_tampered(log_dir, N, "unsigned")


def test_insert_a_forged_entry(log_dir: Path) -> None:
    lines = Lines(log_dir)
    lines.lines.insert(lines.leaf_positions()[25], forged(log_dir, 25, subject="mallory"))
    lines.write()
    assert_tampered(log_dir, 25, "inserted")


def test_insert_a_copy_of_an_entry(log_dir: Path) -> None:
    lines = Lines(log_dir)
    lines.lines.insert(lines.leaf_positions()[25], lines.leaf(10))
    lines.write()
    assert_tampered(log_dir, 25, "inserted")


@pytest.mark.parametrize("keep", [0, 1, 20, 49, 56])
def test_truncate_at_an_entry_boundary(log_dir: Path, keep: int) -> None:
    lines = Lines(log_dir)
    lines.lines = lines.lines[: lines.leaf_positions()[keep]]
    lines.write()
    assert_tampered(log_dir, keep, "truncated")


def test_truncate_inside_an_entry(log_dir: Path) -> None:
    lines = Lines(log_dir)
    start = sum(len(line) + 1 for line in lines.lines[: lines.leaf_positions()[44]])
    path = log_dir / ENTRIES
    path.write_bytes(path.read_bytes()[: start + 17])
    assert_tampered(log_dir, 44, "truncated")


def test_splice_a_second_log_in_the_middle(log_dir: Path, tmp_path: Path) -> None:
    other = build_log(tmp_path / "other", entries=30, origin="example.com/audit/other")
    theirs = Lines(other)
    lines = Lines(log_dir)
    at = lines.leaf_positions()[15]
    lines.lines[at:at] = [theirs.leaf(15), theirs.leaf(16)]
    lines.write()
    assert_tampered(log_dir, 15, "foreign")


def test_replace_the_tail_with_a_second_log(log_dir: Path, tmp_path: Path) -> None:
    other = build_log(tmp_path / "other", entries=N, origin="example.com/audit/other")
    theirs = Lines(other)
    lines = Lines(log_dir)
    cut = lines.leaf_positions()[35]
    lines.lines = lines.lines[:cut] + theirs.lines[theirs.leaf_positions()[35] :]
    lines.write()
    assert_tampered(log_dir, 35, "foreign")


def test_an_intruder_who_also_rewrites_the_caches_is_bracketed(log_dir: Path) -> None:
    """Edit entry 33 and rebuild index.bin/tree.bin to match: the signed checkpoints still catch
    it and bracket the first change between two checkpoint sizes."""
    from proof_messenger.auditlog import merkle

    old_tree = (log_dir / TREE).read_bytes()
    lines = Lines(log_dir)
    lines.set_leaf(33, lines.leaf(33).replace(b'"user5"', b'"userX"'))
    lines.write()
    b = merkle.TreeBuilder(keep_nodes=True)
    for k in range(N):
        b.append(merkle.leaf_hash(Lines(log_dir).leaf(k)))
    # the rebuilt cache has the layout of the real one, with the edited entry's hashes
    assert b.nodes is not None and len(b.nodes) == len(old_tree) and bytes(b.nodes) != old_tree
    (log_dir / TREE).write_bytes(bytes(b.nodes))
    (log_dir / INDEX).unlink()
    report = audit_log(log_dir, trusted=pinned(log_dir))
    assert not report.ok
    first = report.findings[0]
    assert first.kind == "modified" and first.index == 28  # checkpoints at 28 (matches) and 35 (does not)
    assert "[28, 35)" in first.message


def test_a_bad_checkpoint_signature_is_reported(log_dir: Path) -> None:
    path = log_dir / CHECKPOINTS
    text = path.read_text()
    pos = text.index("\u2014 ", text.index("\u2014 ") + 1) + 30  # inside the second signature
    path.write_text(text[:pos] + ("A" if text[pos] != "A" else "B") + text[pos + 1 :])
    report = audit_log(log_dir, trusted=pinned(log_dir))
    assert [f.kind for f in report.findings] == ["bad_checkpoint"]


def test_the_wrong_key_is_reported(log_dir: Path) -> None:
    other = Signer.generate(read_meta(log_dir)["origin"]).verifier
    report = audit_log(log_dir, trusted=[other])
    assert not report.ok and {f.kind for f in report.findings} == {"bad_checkpoint"}
    report = audit_log(log_dir, trusted=[Signer.generate("elsewhere").verifier])
    assert [f.kind for f in report.findings] == ["untrusted"]


def test_a_fork_signed_with_the_log_key_is_caught(log_dir: Path) -> None:
    """The operator signs a second root for a size it already checkpointed (split view)."""
    origin = read_meta(log_dir)["origin"]
    signer = Signer.from_pem(origin, (log_dir / KEY).read_bytes())
    fork = sign_note(Checkpoint(origin, 21, bytes(32)).to_text(), signer)
    report = audit_log(log_dir, trusted=[signer.verifier], external=[(fork, "witness")])
    kinds = {f.kind for f in report.findings}
    assert "fork" in kinds and "inconsistent" in kinds


def test_a_rewritten_history_is_caught_by_a_witness_checkpoint(log_dir: Path, tmp_path: Path) -> None:
    """An operator with the key rebuilds the whole log; the witness still holds the old checkpoint."""
    witness = tmp_path / "witness.txt"
    shutil.copy(log_dir / CHECKPOINTS, witness)
    for name in (ENTRIES, INDEX, TREE, CHECKPOINTS):
        (log_dir / name).unlink()
    with AuditLog.open(log_dir, background=False) as log:  # same key, same origin
        for i in range(N):
            log.append_many([record(i, subject="someone-else" if i == 17 else f"user{i % 7}")])
            log.checkpoint()
    assert audit_log(log_dir, trusted=pinned(log_dir)).ok  # self-consistent on its own...
    report = audit_data_dir(
        log_dir, trusted=pinned(log_dir), external=[(n, "witness") for n in _notes(witness)]
    )[0][0]
    assert not report.ok  # ...but not with what the witness saw
    assert report.first_bad_index is not None and report.first_bad_index <= 17


def _notes(path: Path) -> list[str]:
    from proof_messenger.auditlog.note import split_notes

    return split_notes(path.read_text())[0]


def test_a_live_log_tail_is_not_a_finding(tmp_path: Path) -> None:
    with AuditLog.open(tmp_path / "live", origin="example.com/live", background=False) as log:
        log.append_many([record(i) for i in range(5)])
        log.checkpoint()
        log.append_many([record(i) for i in range(5, 9)])
        log.commit()  # committed, not yet persisted
        report = audit_log(tmp_path / "live")
        assert report.ok and any("live" in n for n in report.notes)


def test_sealed_contexts_are_opaque_without_the_key_and_open_with_it(tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    from proof_messenger.auditlog.crypt import generate_key

    key_file.write_text(generate_key() + "\n")
    ring = Keyring.from_file(key_file)
    with AuditLog.open(
        tmp_path / "sealed", origin="example.com/sealed", keyring=ring, background=False
    ) as log:
        for i in range(10):
            log.append(record(i, context={"action": "wire", "iban": f"SECRET-IBAN-{i}"}))
    raw = (tmp_path / "sealed" / ENTRIES).read_bytes()
    assert b"SECRET-IBAN" not in raw and raw.count(b'"sealed"') == 10
    assert audit_log(tmp_path / "sealed").ok
    report = audit_log(tmp_path / "sealed", keyring=ring)
    assert report.ok and "decrypted 10 sealed contexts" in report.notes
    wrong = Keyring([bytes(32)])
    assert {f.kind for f in audit_log(tmp_path / "sealed", keyring=wrong).findings} == {"decrypt"}


def test_without_a_key_contexts_are_not_stored(tmp_path: Path) -> None:
    with AuditLog.open(tmp_path / "min", origin="example.com/min", background=False) as log:
        log.append(record(1, context={"iban": "SECRET-IBAN"}))
    raw = (tmp_path / "min" / ENTRIES).read_bytes()
    assert b"SECRET" not in raw and b"sealed" not in raw


def test_several_logs_in_one_data_dir(tmp_path: Path) -> None:
    root = tmp_path / "data" / "auditlog"
    build_log(root / "a-0", entries=10, origin="example.com/a-0")
    build_log(root / "a-1", entries=12, origin="example.com/a-1")
    keys = [Verifier.from_vkey(read_meta(root / d)["vkey"]) for d in ("a-0", "a-1")]
    reports, orphans = audit_data_dir(tmp_path / "data", trusted=keys)
    assert [r.entries for r in reports] == [10, 12] and all(r.ok for r in reports) and not orphans
    lines = Lines(root / "a-1")
    del lines.lines[lines.leaf_positions()[4]]
    lines.write()
    reports, _ = audit_data_dir(tmp_path / "data", trusted=keys)
    assert [r.ok for r in reports] == [True, False] and reports[1].first_bad_index == 4
    # A witness checkpoint for a log that is gone is reported.
    gone = Signer.generate("example.com/a-2")
    note = sign_note(Checkpoint("example.com/a-2", 3, bytes(32)).to_text(), gone)
    _, orphans = audit_data_dir(tmp_path / "data", trusted=[*keys, gone.verifier], external=[(note, "w")])
    assert [f.kind for f in orphans] == ["missing_log"]


# --- the command line ---------------------------------------------------------------------------


def test_cli_verify_exit_codes(log_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vkey = read_meta(log_dir)["vkey"]
    assert cli(["verify", str(log_dir), "--public-key", vkey]) == 0
    assert "verified: 1 log(s), 60 entries" in capsys.readouterr().out
    assert cli(["verify", str(tmp_path / "nothing")]) == 2
    lines = Lines(log_dir)
    del lines.lines[lines.leaf_positions()[9]]
    lines.write()
    assert cli(["verify", str(log_dir), "--public-key", vkey, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["logs"][0]["firstBadIndex"] == 9


def test_cli_progress_bar_goes_to_stderr(log_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["verify", str(log_dir), "--progress", "always"]) == 0
    captured = capsys.readouterr()
    assert "100%" in captured.err and "100%" not in captured.out


def test_cli_receipt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with AuditLog.open(tmp_path / "r", origin="example.com/r", background=False) as log:
        for i in range(9):
            log.append(record(i))
        receipt = log.append(record(9, signed_digest=pm.context_digest({"a": 1}).hex()))
        for i in range(10, 20):
            log.append(record(i))
        newer = log.checkpoint().note
        vkey = log.verifier.vkey
    (tmp_path / "receipt.json").write_text(json.dumps(receipt.to_dict()))
    (tmp_path / "newer.txt").write_text(newer)
    assert cli(["receipt", str(tmp_path / "receipt.json"), "--public-key", vkey]) == 0
    assert "entry 9 is in example.com/r at tree size 10" in capsys.readouterr().out
    args = [
        "receipt",
        str(tmp_path / "receipt.json"),
        "--public-key",
        vkey,
        "--checkpoint",
        str(tmp_path / "newer.txt"),
    ]
    assert cli([*args, "--log-dir", str(tmp_path / "r")]) == 0
    assert cli(args) == 1  # a newer checkpoint needs a proof from the log
    other = Signer.generate("example.com/r").verifier.vkey
    assert cli(["receipt", str(tmp_path / "receipt.json"), "--public-key", other]) == 1
    doc = receipt.to_dict()
    doc["entry"] = doc["entry"].replace('"rejected"', '"accepted"')
    (tmp_path / "forged.json").write_text(json.dumps(doc))
    assert cli(["receipt", str(tmp_path / "forged.json"), "--public-key", vkey]) == 1


@pytest.mark.parametrize(
    "forge",
    [
        lambda d: {**d, "receiptId": d["receiptId"].replace("_9", "_8")},  # another entry's id
        lambda d: {**d, "receiptId": "rcpt_0000000000000000_9"},  # another log's id
        lambda d: {**d, "index": "9"},  # the right number in the wrong type
        lambda d: {**d, "index": 9.0},
        lambda d: {**d, "index": True},
        lambda d: {**d, "origin": ["example.com/r"]},
        lambda d: {**d, "decision": "accepted"},  # a member nothing would check
        lambda d: {**d, "checkpoint": 7},
        lambda d: {**d, "leafHash": base64.b64encode(b"x" * 31).decode()},
    ],
)
def test_cli_receipt_checks_every_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], forge: Any
) -> None:
    with AuditLog.open(tmp_path / "r", origin="example.com/r", background=False) as log:
        for i in range(9):
            log.append(record(i))
        receipt = log.append(record(9))
        log.append(record(10))
        vkey = log.verifier.vkey
    (tmp_path / "good.json").write_text(json.dumps(receipt.to_dict()))
    assert cli(["receipt", str(tmp_path / "good.json"), "--public-key", vkey]) == 0
    (tmp_path / "forged.json").write_text(json.dumps(forge(receipt.to_dict())))
    capsys.readouterr()
    assert cli(["receipt", str(tmp_path / "forged.json"), "--public-key", vkey]) == 1
    assert "entry 9 is in" not in capsys.readouterr().out


def test_module_entry_point(log_dir: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "proof_messenger.auditlog", "verify", str(log_dir)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "OK: 60 entries" in out.stdout

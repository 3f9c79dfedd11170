"""The offline auditor: rebuild each log from its entries and hold it to its signed checkpoints.

For every log directory it finds, :func:`audit_log`

1. takes the log key from ``--public-key`` (vkeys, matched by origin), or
   else from ``log.pub`` in the directory (and says that this proves
   nothing against whoever controls the directory);
2. checks the signature of every stored checkpoint and of every external one
   (witness files, receipts' checkpoints: ``--checkpoint``), and that no two
   signed checkpoints give one size two roots;
3. reads ``entries.jsonl`` front to back, re-hashes every leaf into a fresh
   RFC 6962 tree and compares its root with every checkpoint at that size. A
   checkpoint the rebuilt tree does not reproduce, while a later one does, is
   *inconsistent* with it (the log signed a fork; RFC 9162 consistency proof
   from the rebuilt tree); one that no later checkpoint vindicates means the
   entries were changed;
4. names the first entry that was modified, deleted, reordered, inserted,
   truncated or spliced in from another log, with its index. Every leaf
   carries its index and log id, so moved, dropped and foreign lines are
   exact. A rewritten line is found exactly by comparing with the log's tree
   cache (``tree.bin``) once its root matches a signed checkpoint (then its
   leaf hashes are authenticated); if an intruder rewrote that too, the
   signed checkpoints still bracket the first change between two sizes.

It never uses the private key, never writes, never takes the log's lock, and
decrypts sealed contexts only when given the keyring.

>>> import tempfile, pathlib
>>> from proof_messenger.auditlog import AuditLog, AuditRecord
>>> d = pathlib.Path(tempfile.mkdtemp()) / "log"
>>> with AuditLog.open(d, origin="example.com/audit/0") as alog:
...     _ = [alog.append(AuditRecord(time_ms=i, decision="accepted", reason=None, audience="bank"))
...          for i in range(3)]
>>> audit_log(d, trusted=[alog.verifier]).ok
True
>>> lines = (d / "entries.jsonl").read_bytes().splitlines(keepends=True)
>>> _ = (d / "entries.jsonl").write_bytes(b"".join(lines[:2] + lines[3:]))  # entry 1 gone
>>> audit_log(d, trusted=[alog.verifier]).findings[0].kind
'deleted'
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import merkle
from .crypt import Keyring, SealError
from .entry import check_entry, log_id_of, parse_leaf, receipt_id, unseal
from .log import LOCK, META, PUB, Receipt, read_meta
from .note import Checkpoint, NoteError, Verifier, open_checkpoint, split_notes
from .store import CHECKPOINTS, ENTRIES, MARKER_PREFIX, TREE, iter_lines, read_leaf

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # modified deleted reordered inserted truncated foreign malformed unsigned
    #            bad_checkpoint fork inconsistent untrusted decrypt missing_log
    message: str
    index: int | None = None  # the first affected entry, when known


@dataclass
class LogReport:
    directory: Path
    origin: str | None = None
    entries: int = 0
    checkpoints: int = 0  # signatures verified
    verified_size: int = 0  # largest checkpoint the rebuilt tree reproduces
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_bad_index(self) -> int | None:
        indexes = [f.index for f in self.findings if f.index is not None]
        return min(indexes) if indexes else None


@dataclass(frozen=True, slots=True)
class _Signed:
    cp: Checkpoint
    source: str
    group: str  # "stored", or the file it came from: one signed history each


def find_logs(path: Path) -> list[Path]:
    """Log directories at ``path``: itself, its children, or ``path/auditlog/*``."""
    if (path / META).exists():
        return [path]
    for base in (path, path / "auditlog"):
        if base.is_dir():
            found = sorted(p for p in base.iterdir() if (p / META).exists())
            if found:
                return found
    return []


def _is_live(directory: Path) -> bool:
    """Whether a writer holds the log's lease right now. Never takes the lock
    itself (a relay starting at that moment would be pushed to another slot):
    reads the holder's pid from ``LOCK`` and, on Linux, ``/proc/locks``."""
    lock = directory / LOCK
    try:
        pid_s, host = lock.read_text().split()
        os.kill(int(pid_s), 0)
    except (OSError, ValueError):
        return False
    if host != socket.gethostname():
        return False
    try:
        locks = Path("/proc/locks").read_text()
    except OSError:
        return True
    st = lock.stat()
    inode = f":{st.st_ino} "
    return any(line.split()[1] == "FLOCK" and inode in line for line in locks.splitlines() if line.strip())


def _load_checkpoints(
    report: LogReport, notes: Sequence[tuple[str, str]], verifiers: Sequence[Verifier]
) -> list[_Signed]:
    signed: list[_Signed] = []
    for note, source in notes:
        try:
            cp = open_checkpoint(note, verifiers)
        except NoteError as exc:
            report.findings.append(Finding("bad_checkpoint", f"{source}: {exc}"))
            continue
        if cp.origin != report.origin:
            report.findings.append(
                Finding("bad_checkpoint", f"{source}: origin {cp.origin!r}, not this log's")
            )
            continue
        report.checkpoints += 1
        group = "stored" if source.startswith(f"{CHECKPOINTS} record") else source.rsplit(" #", 1)[0]
        signed.append(_Signed(cp, source, group))
    return signed


def _leaf_at(position: int) -> int:
    """The leaf whose node sits at post-order ``position`` (inverse of 2i - popcount(i))."""
    lo, hi = 0, position + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if merkle.node_position(0, mid) < position:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _first_difference(
    a: bytes | bytearray | mmap.mmap, b: bytes | bytearray | mmap.mmap, length: int
) -> int | None:
    step = 1 << 20
    for start in range(0, length, step):
        end = min(start + step, length)
        if a[start:end] != b[start:end]:
            for i in range(start, end):
                if a[i] != b[i]:
                    return i
    return None


_INDEX_RE = re.compile(rb',"index":(\d+),"keyId":')
_MARKER_RE = re.compile(
    rb'\{"commit":\{"mac":"[A-Za-z0-9+/]{22}==","root":"[A-Za-z0-9+/]{43}=","size":(\d+)\}\}'
)


def _marker_ok(line: bytes, size: int) -> bool:
    """A well-formed commit marker for ``size`` (its MAC needs the log's key: not checked here)."""
    m = _MARKER_RE.fullmatch(line)
    return m is not None and int(m[1]) == size


class _Anomalies:
    """Lines that are not what their position says (usually none): what each claims."""

    LIMIT = 1_000_000  # bounded memory when, say, an early deletion shifts every later line

    def __init__(self) -> None:
        self.first: int | None = None
        self.at: dict[int, tuple[int | None, str, bool]] = {}  # position -> (claimed index, problem, foreign)
        self.claimed_by: dict[int, int] = {}  # claimed index -> first position claiming it

    def add(self, i: int, entry: Mapping[str, Any] | None, problem: str, log_id: str) -> None:
        if self.first is None:
            self.first = i
        if len(self.at) >= self.LIMIT:
            return
        claim = entry.get("index") if entry is not None else None
        if not isinstance(claim, int) or isinstance(claim, bool):
            claim = None
        self.at[i] = (claim, problem, entry is not None and entry.get("log") != log_id)
        if claim is not None:
            self.claimed_by.setdefault(claim, i)

    def claim(self, i: int) -> int | None:
        return self.at[i][0] if i in self.at else i


def _classify(odd: _Anomalies, j: int, n: int) -> Finding:
    """Names what happened at position ``j`` (the first bad one) from what the lines claim."""
    if j >= n:
        return Finding("truncated", f"entry {j} and later are missing (the log ends at {n} entries)", j)
    claim, problem, foreign = odd.at.get(j, (j, "", False))
    if foreign:
        return Finding("foreign", f"entry {j} was spliced in from another log: {problem}", j)
    if claim is None:
        return Finding("malformed", f"entry {j} is not a valid entry ({problem})", j)
    if claim > j:
        if odd.claimed_by.get(j, -1) > j:
            return Finding("reordered", f"entry {j} was moved: position {j} holds entry {claim}", j)
        return Finding("deleted", f"entry {j} was deleted (position {j} holds entry {claim})", j)
    if claim < j:
        return Finding("inserted", f"position {j} holds a second copy of entry {claim}, or a forged line", j)
    if j + 1 < n and odd.claim(j + 1) == j:
        return Finding("inserted", f"a forged line was inserted at position {j}", j)
    return Finding("modified", f"entry {j} was modified", j)


def audit_log(
    directory: Path,
    *,
    trusted: Sequence[Verifier] | None = None,
    external: Sequence[tuple[str, str]] = (),
    keyring: Keyring | None = None,
    progress: Progress | None = None,
) -> LogReport:
    """Audits one log directory. ``external``: ``(note, source)`` checkpoints from elsewhere."""
    report = LogReport(directory)
    try:
        meta = read_meta(directory)
        report.origin = str(meta["origin"])
    except (OSError, ValueError, KeyError) as exc:
        report.findings.append(Finding("malformed", f"{META} unreadable: {exc}"))
        return report
    origin = report.origin
    log_id = log_id_of(origin)
    if trusted is not None:
        verifiers = [v for v in trusted if v.name == origin]
        if not verifiers:
            report.findings.append(
                Finding("untrusted", f"no trusted key (--public-key) for origin {origin!r}")
            )
            return report
    else:
        try:
            verifiers = [Verifier.from_vkey((directory / PUB).read_text())]
        except (OSError, NoteError) as exc:
            report.findings.append(Finding("untrusted", f"no usable {PUB}: {exc}; pass --public-key"))
            return report
        report.notes.append(
            f"key read from {PUB} ({verifiers[0].vkey}); pin it with --public-key to rule out a replaced log"
        )

    stored_text = (directory / CHECKPOINTS).read_bytes().decode("utf-8", "surrogateescape")
    stored, done = split_notes(stored_text, strict=True)
    if done < len(stored_text):
        report.notes.append("the last checkpoint record is torn (a crash while persisting; cut on next open)")
    notes = [(n, f"{CHECKPOINTS} record {k}") for k, n in enumerate(stored)]
    signed = _load_checkpoints(report, [*notes, *external], verifiers)

    by_size: dict[int, list[_Signed]] = {}
    for sc in signed:
        by_size.setdefault(sc.cp.size, []).append(sc)
    for size, group in sorted(by_size.items()):
        roots = {s.cp.root_hash for s in group}
        if len(roots) > 1:
            sources = ", ".join(sc.source for sc in group)
            report.findings.append(
                Finding("fork", f"signed checkpoints of size {size} disagree on the root ({sources})")
            )
    sizes = sorted(by_size)

    # --- rebuild --------------------------------------------------------------------------
    builder = merkle.TreeBuilder(keep_nodes=True)
    roots_at: dict[int, bytes] = {0: merkle.EMPTY_ROOT} if 0 in by_size else {}
    odd = _Anomalies()
    marker_damage: int | None = None
    torn_at: int | None = None
    decrypted = 0
    entries_path = directory / ENTRIES
    total = entries_path.stat().st_size
    ti = bisect.bisect_right(sizes, 0)
    index_re, log_re = _INDEX_RE, re.compile(rb',"log":"' + log_id.encode() + rb'",')
    fd = os.open(entries_path, os.O_RDONLY)
    try:
        for lines, (off, line, complete) in enumerate(iter_lines(fd, 0)):
            if progress is not None and lines % 65536 == 0:
                progress(off, total)
            i = builder.size
            if not complete:
                torn_at = i
                break
            if line.startswith(MARKER_PREFIX):
                if marker_damage is None and not _marker_ok(line, i):
                    marker_damage = i
                continue
            # Fast path (canonical JSON escapes every quote inside strings, so these
            # tokens only match top-level members); anything odd gets a full parse.
            found = index_re.search(line)
            if keyring is not None or not (
                found and int(found[1]) == i and log_re.search(line) and line.endswith(b',"v":1}')
            ):
                entry = parse_leaf(line)
                problem = check_entry(entry, i, log_id)
                if problem is not None:
                    odd.add(i, entry, problem, log_id)
                if keyring is not None and entry is not None and "sealed" in entry:
                    try:
                        unseal(entry, keyring)
                        decrypted += 1
                    except (SealError, ValueError) as exc:
                        report.findings.append(Finding("decrypt", f"entry {i}: sealed context: {exc}", i))
            builder.append(merkle.leaf_hash(line))
            if ti < len(sizes) and sizes[ti] == builder.size:
                roots_at[builder.size] = builder.root()
                ti += 1
    finally:
        os.close(fd)
    if progress is not None:
        progress(total, total)
    n = report.entries = builder.size
    if keyring is not None:
        report.notes.append(f"decrypted {decrypted} sealed contexts")

    # --- hold the tree to the checkpoints -----------------------------------------------------
    # A size is vindicated when some checkpoint of it matches the rebuilt tree.
    matched = sorted(
        s for s in sizes if s in roots_at and any(x.cp.root_hash == roots_at[s] for x in by_size[s])
    )
    report.verified_size = max(matched, default=0)
    reader = builder.node_reader()
    bad_sizes: list[int] = []
    for s in sizes:
        if s > n:
            continue  # truncation, below
        for x in by_size[s]:
            if x.cp.root_hash == roots_at[s]:
                continue
            vindicated = [m for m in matched if m >= s]
            if not vindicated:
                bad_sizes.append(s)
                continue
            # Signed, yet not a prefix of a tree the log also signed: the log forked.
            # Bracket the divergence with the same source's last agreeing checkpoint.
            agree = [
                y.cp.size
                for y in signed
                if y.group == x.group and y.cp.size < s and roots_at.get(y.cp.size) == y.cp.root_hash
            ]
            lo, m = max(agree, default=0), vindicated[0]
            try:
                merkle.verify_consistency(
                    s, m, merkle.consistency_proof(reader, s, m), x.cp.root_hash, roots_at[m]
                )
                continue  # only on a SHA-256 collision
            except merkle.ProofError as exc:
                report.findings.append(
                    Finding(
                        "inconsistent",
                        f"{x.source} (size {s}) is inconsistent with the signed checkpoint of size {m} "
                        f"that the entries reproduce ({exc}): the log signed a fork; the histories "
                        f"diverge in [{lo}, {s})",
                        lo,
                    )
                )
    beyond = [s for s in sizes if s > n]

    # --- name the first bad entry -------------------------------------------------------------
    last_signed = sizes[-1] if sizes else 0
    live = n > last_signed and _is_live(directory)
    candidates = [c for c in (odd.first, torn_at) if c is not None]
    if live:  # a running log may be mid-write after its last checkpoint
        candidates = [c for c in candidates if c < last_signed]
    exact = _authenticated_difference(directory, builder, sizes, by_size, n)
    if exact is not None:
        candidates.append(exact)
    if beyond:
        candidates.append(n)
    if bad_sizes and (not candidates or min(candidates) >= bad_sizes[0]):
        hi = bad_sizes[0]
        lo = max((m for m in matched if m < hi), default=0)
        report.findings.append(
            Finding(
                "modified",
                f"the entries do not reproduce the signed checkpoint of size {hi}: the first changed entry "
                f"is in [{lo}, {hi}) (the tree cache was rewritten too, so the checkpoints cannot narrow it)",
                lo,
            )
        )
    elif candidates:
        finding = _classify(odd, min(candidates), n)
        if finding.kind == "modified" and finding.index is not None and finding.index >= last_signed:
            finding = Finding(
                "unsigned", f"entry {finding.index} is not covered by any signed checkpoint", finding.index
            )
        report.findings.append(finding)
    if beyond:
        report.findings.append(
            Finding("truncated", f"a signed checkpoint covers {beyond[-1]} entries but the log has {n}", n)
        )
    if torn_at is not None and not live:
        report.findings.append(
            Finding("truncated", f"the last line (entry {torn_at}) is incomplete", torn_at)
        )
    if n > last_signed and not report.findings:
        if live:
            report.notes.append(
                f"{n - last_signed} entries after the last persisted checkpoint (the log is live)"
            )
        else:
            report.findings.append(
                Finding(
                    "unsigned",
                    f"{n - last_signed} entries after the last signed checkpoint (size {last_signed}): "
                    "forged, or the log stopped before checkpointing them (reopening it checkpoints "
                    "committed entries and cuts the rest)",
                    last_signed,
                )
            )
    if marker_damage is not None:
        report.findings.append(
            Finding("malformed", f"the commit marker before entry {marker_damage} is damaged", marker_damage)
        )
    _dedupe(report)
    return report


def _authenticated_difference(
    directory: Path,
    builder: merkle.TreeBuilder,
    sizes: Sequence[int],
    by_size: Mapping[int, list[_Signed]],
    n: int,
) -> int | None:
    """The first leaf where the entries differ from ``tree.bin``, counted only
    below a signed checkpoint that ``tree.bin`` itself reproduces."""
    path = directory / TREE
    try:
        fh = path.open("rb")
    except OSError:
        return None
    with fh:
        length = os.fstat(fh.fileno()).st_size
        if length == 0:
            return None
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as stored:

            def node(level: int, index: int) -> bytes:
                pos = merkle.node_position(level, index) * merkle.HASH_SIZE
                if pos + merkle.HASH_SIZE > length:
                    raise IndexError
                return stored[pos : pos + merkle.HASH_SIZE]

            authenticated = 0
            for s in reversed(sizes):
                if s == 0 or merkle.node_count(s) * merkle.HASH_SIZE > length:
                    continue
                try:
                    root = merkle.root_hash(node, s)
                except IndexError:
                    continue
                if any(x.cp.root_hash == root for x in by_size[s]):
                    authenticated = s
                    break
            if not authenticated:
                return None
            rebuilt = builder.nodes
            assert rebuilt is not None
            upto = min(authenticated, n)
            diff = _first_difference(rebuilt, stored, merkle.node_count(upto) * merkle.HASH_SIZE)
            if diff is None:
                return n if n < authenticated else None
            return _leaf_at(diff // merkle.HASH_SIZE)


def _dedupe(report: LogReport) -> None:
    seen: set[tuple[str, int | None]] = set()
    out = []
    for f in report.findings:
        key = (f.kind, f.index)
        if key not in seen:
            seen.add(key)
            out.append(f)
    report.findings = out


def audit_data_dir(
    path: Path,
    *,
    trusted: Sequence[Verifier] | None = None,
    external: Sequence[tuple[str, str]] = (),
    keyring: Keyring | None = None,
    progress: Callable[[Path], Progress | None] | None = None,
) -> tuple[list[LogReport], list[Finding]]:
    """Audits every log under ``path``; external checkpoints go to the log of their origin."""
    logs = find_logs(path)
    reports = []
    origins = set()
    for d in logs:
        try:
            origin = str(read_meta(d)["origin"])
        except (OSError, ValueError, KeyError):
            origin = ""
        origins.add(origin)
        mine = [(n, src) for n, src in external if _origin_of(n) == origin]
        reports.append(
            audit_log(
                d, trusted=trusted, external=mine, keyring=keyring, progress=progress(d) if progress else None
            )
        )
    orphans: list[Finding] = []
    for origin in sorted({_origin_of(n) for n, _ in external} - origins):
        orphans.append(
            Finding("missing_log", f"checkpoints for origin {origin!r} but no such log under {path}")
        )
    return reports, orphans


def _origin_of(note: str) -> str:
    return note.split("\n", 1)[0]


def _receipt_checkpoints(doc: Any) -> list[str]:
    """The checkpoints in a receipt, a verify answer holding one, or a verify-batch answer."""
    if not isinstance(doc, dict):
        return []
    if isinstance(doc.get("results"), list):
        return [n for result in doc["results"] for n in _receipt_checkpoints(result)]
    if isinstance(doc.get("receipt"), dict):
        doc = doc["receipt"]
    note = doc.get("checkpoint")
    return [note] if isinstance(note, str) and note else []


def read_checkpoint_files(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """Signed checkpoints from files: witness files, saved ``/checkpoint`` answers, receipts and
    verify answers (JSON)."""
    import json

    out: list[tuple[str, str]] = []
    for p in paths:
        text = Path(p).read_text()
        if text.lstrip().startswith("{"):
            out.extend((note, f"{p}") for note in _receipt_checkpoints(json.loads(text)))
            continue
        notes, _ = split_notes(text)
        out.extend((n, f"{p} #{k}") for k, n in enumerate(notes))
    return out


# --- receipts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    ok: bool
    message: str
    entry: dict[str, Any] | None = None
    checkpoint_size: int | None = None


def _tree_reader(log_dir: Path) -> merkle.NodeReader:
    data = (log_dir / TREE).read_bytes()

    def node(level: int, index: int) -> bytes:
        pos = merkle.node_position(level, index) * merkle.HASH_SIZE
        if pos + merkle.HASH_SIZE > len(data):
            raise merkle.ProofError(f"{log_dir} does not hold that part of the tree")
        return data[pos : pos + merkle.HASH_SIZE]

    return node


def verify_receipt(
    receipt: Receipt | Mapping[str, Any],
    *,
    trusted: Sequence[Verifier],
    checkpoint: str | None = None,
    log_dir: Path | None = None,
) -> ReceiptCheck:
    """Checks offline that the receipt's entry is in the log: its leaf hash,
    a checkpoint signed by a trusted key for its origin (the receipt's own, or
    ``checkpoint``, e.g. a newer one from a witness), and the inclusion proof
    (the receipt's, or computed from ``log_dir``'s tree: never trusted, only
    verified against the signed root). Every member counts: the id too, which the relay's
    answers carry."""
    try:
        r = receipt if isinstance(receipt, Receipt) else Receipt.from_dict(receipt)
    except (KeyError, ValueError, TypeError) as exc:
        return ReceiptCheck(False, f"malformed receipt: {exc}")
    if r.receipt_id != receipt_id(log_id_of(r.origin), r.index):
        return ReceiptCheck(False, f"the receipt id is not that of entry {r.index} of {r.origin}")
    raw = r.entry
    if raw is None:  # a compact receipt: the entry comes from the log, and must hash to the leaf hash
        if log_dir is None:
            return ReceiptCheck(False, "a compact receipt holds no entry: pass the log directory (--log-dir)")
        try:
            raw = read_leaf(log_dir, r.index)
        except (OSError, ValueError) as exc:
            return ReceiptCheck(False, f"entry {r.index} cannot be read from {log_dir}: {exc}")
        if merkle.leaf_hash(raw) != r.leaf_hash:
            return ReceiptCheck(False, f"entry {r.index} of {log_dir} is not the entry this receipt pins")
    if merkle.leaf_hash(raw) != r.leaf_hash:
        return ReceiptCheck(False, "the entry does not hash to the receipt's leaf hash")
    entry = parse_leaf(raw)
    problem = check_entry(entry, r.index, log_id_of(r.origin))
    if problem:
        return ReceiptCheck(False, f"the entry is not entry {r.index} of {r.origin}: {problem}")
    note = checkpoint or r.checkpoint
    if not note:
        return ReceiptCheck(False, "no checkpoint: pass one (--checkpoint)", entry)
    try:
        cp = open_checkpoint(note, [v for v in trusted if v.name == r.origin])
    except NoteError as exc:
        return ReceiptCheck(False, f"checkpoint: {exc}", entry)
    if cp.origin != r.origin:
        return ReceiptCheck(False, f"the checkpoint is for {cp.origin!r}, not {r.origin!r}", entry)
    if r.index >= cp.size:
        return ReceiptCheck(False, f"the checkpoint (size {cp.size}) does not cover entry {r.index}", entry)
    try:
        if r.inclusion_proof is not None and note == r.checkpoint:
            proof = list(r.inclusion_proof)
        elif log_dir is not None:
            proof = merkle.inclusion_proof(_tree_reader(log_dir), r.index, cp.size)
        else:
            return ReceiptCheck(
                False, "no inclusion proof for that checkpoint: pass the log directory", entry
            )
        merkle.verify_inclusion(r.leaf_hash, r.index, cp.size, proof, cp.root_hash)
    except (merkle.ProofError, OSError) as exc:
        return ReceiptCheck(False, f"inclusion proof: {exc}", entry, cp.size)
    return ReceiptCheck(True, f"entry {r.index} is in {r.origin} at tree size {cp.size}", entry, cp.size)

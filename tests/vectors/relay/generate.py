"""Generate the relay's record vectors (tests/vectors/relay/records.json; the output is committed).

    .venv/bin/python tests/vectors/relay/generate.py [--out DIR] [--force]

The relay writes three records per decision: the audit-log entry (RFC 8785
JSON, hashed into the Merkle log), the decision-log line (one JSON object per
line, for a SIEM) and the verdict (the HTTP answer), with a compact or a full
receipt. This script writes them for a set of hand-made decisions with
independent tools only (``json``, the ``rfc8785`` package, ``hashlib``,
``base64``); ``proof_messenger`` is never imported, so the vectors check the
relay's writers (rust/relay, tested by ``cargo test`` and by
tests/relay/test_records.py) instead of echoing them.

The bytes are those the relay wrote before its writers moved to rust/relay
(checked against them when this file was first generated), with the one
documented changes: a verified context is always its RFC 8785 canonical JSON,
also with full receipts and in decision lines with ``log_context`` on (it
used to follow the proof's member order there); every receipt, compact too,
carries its signed checkpoint, right after ``leafHash``.

Deterministic; re-running reproduces the file byte for byte (the script
refuses to change a committed file unless --force is given).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import rfc8785

HERE = Path(__file__).resolve().parent

# --- the reference writers ----------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _splice(obj: dict[str, Any], name: str, raw: bytes | None) -> bytes:
    """``obj`` as compact JSON with member ``name`` written as the raw JSON ``raw`` (null if None)."""
    marker = "\x00splice\x00"
    text = _json({k: (marker if k == name else v) for k, v in obj.items()})
    return text.replace(_json(marker), b"null" if raw is None else raw)


def canonical_context(d: dict[str, Any]) -> bytes | None:
    return None if d["context"] is None else rfc8785.dumps(d["context"])


def audit_entry(d: dict[str, Any], index: int, log_id: str) -> bytes:
    """docs/AUDIT_LOG.md, "Entries": the entry a decision puts in the log."""
    digest = d["signed_digest"]
    entry = {
        "algorithm": d["algorithm"] or ("Ed25519" if d["key_id"] is not None else None),
        "audience": d["audience"],
        "client": d["client_id"],
        "decision": "accepted" if d["valid"] else "rejected",
        "index": index,
        "keyId": d["key_id"],
        "log": log_id,
        "reason": None if d["valid"] else d["code"],
        "receiptId": f"rcpt_{log_id}_{index}",
        "signedDigest": None if digest is None else bytes.fromhex(digest).hex(),
        "subject": d["subject"],
        "time": d["decided_at_ms"],
        "v": 1,
    }
    return rfc8785.dumps(entry)


def rfc3339(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def decision_line(
    d: dict[str, Any], request_id: str | None, remote_addr: str | None, *, context: bool
) -> bytes:
    """docs/RELAY.md, "Decision events": one line per decision (without the newline)."""
    event: dict[str, Any] = {
        "ts": rfc3339(d["decided_at_ms"]),
        "event": "proof_messenger.decision",
        "outcome": "success" if d["valid"] else "failure",
        "valid": d["valid"],
        "code": d["code"],
        "client": d["client_id"],
        "subject": d["subject"],
        "keyId": d["key_id"],
        "enrollmentId": d["enrollment_id"],
        "audience": d["audience"],
        "nonce": d["nonce"],
        "proofTimestamp": d["timestamp_ms"],
        "contextDigest": d["context_digest"],
        "receiptId": None if d["receipt"] is None else d["receipt"]["receiptId"],
        "requestId": request_id,
        "remoteAddr": remote_addr,
    }
    if context and d["context"] is not None:
        event["context"] = None
        return _splice(event, "context", canonical_context(d))
    return _json(event)


def receipt(r: dict[str, Any] | None, *, full: bool) -> dict[str, Any] | None:
    if r is None:
        return None
    out = {
        "receiptId": r["receiptId"],
        "origin": r["origin"],
        "index": r["index"],
        "leafHash": r["leafHash"],
        "checkpoint": r["checkpoint"],  # compact receipts carry it too (issue 13: a signed pin)
    }
    if full:
        out |= {"entry": r["entry"], "inclusionProof": r["inclusionProof"]}
    return out


def verdict(d: dict[str, Any], *, full: bool) -> bytes:
    """docs/RELAY.md, "Verdicts": the answer for one proof."""
    obj = {
        "valid": d["valid"],
        "code": d["code"],
        "detail": d["detail"],
        "subject": d["subject"],
        "keyId": d["key_id"],
        "enrollmentId": d["enrollment_id"],
        "audience": d["audience"],
        "nonce": d["nonce"],
        "timestamp": d["timestamp_ms"],
        "context": None,
        "contextDigest": d["context_digest"],
        "receiptId": None if d["receipt"] is None else d["receipt"]["receiptId"],
        "receipt": receipt(d["receipt"], full=full),
    }
    return _splice(obj, "context", canonical_context(d))


def batch_body(decisions: list[dict[str, Any]], *, full: bool) -> bytes:
    valid = sum(1 for d in decisions if d["valid"])
    parts = b",".join(verdict(d, full=full) for d in decisions)
    return b'{"results":[' + parts + b'],"valid":%d,"invalid":%d}' % (valid, len(decisions) - valid)


# --- the decisions -------------------------------------------------------------------------

LOG_ORIGIN = "relay.example/proof-messenger/node-0"
LOG_ID = hashlib.sha256(LOG_ORIGIN.encode()).digest()[:8].hex()
TS = 1_764_331_200_000


def _receipt(index: int, entry: bytes, *, checkpoint: str | None = None, proof: int | None = None) -> dict:
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    path = None if proof is None else [b64(hashlib.sha256(b"node %d" % i).digest()) for i in range(proof)]
    return {
        "receiptId": f"rcpt_{LOG_ID}_{index}",
        "origin": LOG_ORIGIN,
        "index": index,
        "leafHash": b64(leaf),
        "entry": entry.decode("utf-8"),
        "checkpoint": checkpoint,
        "inclusionProof": path,
    }


def _decision(**fields: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "valid": False,
        "code": None,
        "detail": None,
        "audience": "payments-api",
        "decided_at_ms": TS + 1_234,
        "client_id": "cli_0123456789abcdef0123",
        "subject": None,
        "key_id": None,
        "enrollment_id": None,
        "nonce": None,
        "timestamp_ms": None,
        "context": None,
        "context_digest": None,
        "signed_digest": None,
        "algorithm": None,
    }
    d.update(fields)
    if d["context"] is not None and d["context_digest"] is None:
        d["context_digest"] = b64url(hashlib.sha256(rfc8785.dumps(d["context"])).digest())
    return d


def _proof_fields(subject: str, n: int, algorithm: str = "Ed25519") -> dict[str, Any]:
    return {
        "subject": subject,
        "key_id": b64url(hashlib.sha256(b"key %d" % n).digest()),
        "nonce": b64url(hashlib.sha512(b"nonce %d" % n).digest()[:32]),
        "timestamp_ms": TS - 5_000 + n,
        "signed_digest": hashlib.sha256(b"signed %d" % n).hexdigest(),
        "algorithm": algorithm,
    }


TRANSFER = {
    "action": "wire_transfer",
    "amount": "50000.00",
    "currency": "EUR",
    "to": "ACME-CORP-ACCOUNT-123",
    "subject": "alice",
}


def decisions() -> list[tuple[str, dict[str, Any]]]:
    """(name, decision without its receipt)."""
    return [
        (
            "accepted",
            _decision(
                valid=True,
                enrollment_id="key_00112233445566778899",
                context=TRANSFER,
                **_proof_fields("alice", 1),
            ),
        ),
        (
            "accepted_unordered_context",
            # members out of code-point order, nested values, numbers: canonical order in the records
            _decision(
                valid=True,
                enrollment_id="key_aabbccddeeff00112233",
                context={
                    "zeta": [3, 1.5, -0.0, 1e21, {"b": None, "a": True}],
                    "subject": "bob",
                    "amount": "7.00",
                    "émoji": "😀",
                    "\u20ac": "euro",
                    "a\u2028b": "line separator",
                },
                **_proof_fields("bob", 2),
            ),
        ),
        (
            "bad_signature",
            _decision(
                code="bad_signature", detail="the signature does not verify", **_proof_fields("alice", 3)
            ),
        ),
        (
            "nonce_replayed",
            _decision(
                code="nonce_replayed",
                detail="this nonce was already accepted once",
                enrollment_id="key_00112233445566778899",
                **_proof_fields("alice", 4),
            ),
        ),
        (
            "webauthn_counter",
            _decision(
                code="counter_not_increasing",
                detail=(
                    "the authenticator's signature counter did not increase (cloned authenticator or replay)"
                ),
                **_proof_fields("carol", 5, "WebAuthn"),
            ),
        ),
        (
            "malformed_line",
            # a batch line that did not parse: no proof members at all
            _decision(code="invalid_json", detail='expected "," or "}" at byte 17'),
        ),
        (
            "escapes",
            _decision(
                code="rate_limited",
                detail='quote " backslash \\ tab \t newline \n nul \x00 unit \x1f del \x7f bell \x07 \b\f\r',
                client_id="embedded:bank \u00e9quipe",
                audience="audience with \u2029 and \U0001f512",
                **_proof_fields('subject "quoted" \\ \u00fc', 6),
            ),
        ),
        (
            "key_id_without_algorithm",
            # written by a relay that did not record the algorithm: the entry says Ed25519
            _decision(
                code="untrusted_key",
                detail="the proof's key is not trusted for this subject",
                **{**_proof_fields("dave", 7), "algorithm": None},
            ),
        ),
        (
            "no_client_epoch",
            _decision(
                code="audience_mismatch",
                detail="the proof is addressed to another audience",
                client_id=None,
                decided_at_ms=0,
                **_proof_fields("erin", 8),
            ),
        ),
        (
            "last_millisecond_of_9999",
            _decision(
                valid=True,
                decided_at_ms=253_402_300_799_999,
                context={"subject": "frank", "n": 9007199254740991},
                enrollment_id="key_ffffffffffffffffffff",
                **{**_proof_fields("frank", 9), "timestamp_ms": 9007199254740991},
            ),
        ),
    ]


def cases() -> list[dict[str, Any]]:
    out = []
    base = 41
    for k, (name, d) in enumerate(decisions()):
        index = base + k
        entry = audit_entry(d, index, LOG_ID)
        variants: list[tuple[str, dict[str, Any] | None]] = [
            ("no_receipt", None),
            ("receipt", _receipt(index, entry)),
            (
                "receipt_checkpoint_proof",
                _receipt(
                    index,
                    entry,
                    checkpoint=f"{LOG_ORIGIN}\n{index + 1}\n{b64(bytes(32))}\n\n\u2014 {LOG_ORIGIN} AAAA\n",
                    proof=k % 4,
                ),
            ),
        ]
        for variant, r in variants:
            dr = {**d, "receipt": r}
            rid = None if k % 3 == 0 else f"req-{k}"
            addr = None if k % 2 == 0 else f"10.0.0.{k}"
            out.append(
                {
                    "name": f"{name}/{variant}",
                    "decision": dr,
                    "index": index,
                    "log_id": LOG_ID,
                    "request_id": rid,
                    "remote_addr": addr,
                    "audit_entry": entry.decode("utf-8"),
                    "decision_line": decision_line(dr, rid, addr, context=False).decode("utf-8"),
                    "decision_line_with_context": decision_line(dr, rid, addr, context=True).decode("utf-8"),
                    "verdict_compact": verdict(dr, full=False).decode("utf-8"),
                    "verdict_full": verdict(dr, full=True).decode("utf-8"),
                }
            )
    return out


def batches(all_cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Verify-batch bodies over runs of the cases (valid and invalid mixed)."""
    out = []
    for start, count in ((0, 1), (0, 6), (3, 30)):
        ds = [c["decision"] for c in all_cases[start : start + count]]
        out.append(
            {
                "cases": [c["name"] for c in all_cases[start : start + count]],
                "body_compact": batch_body(ds, full=False).decode("utf-8"),
                "body_full": batch_body(ds, full=True).decode("utf-8"),
            }
        )
    return out


def document() -> dict[str, Any]:
    all_cases = cases()
    return {
        "description": (
            "The relay's records for hand-made decisions: audit entry, decision-log line (without and"
            " with log_context), verdict with a compact and a full receipt, and verify-batch bodies."
            " Written by tests/vectors/relay/generate.py from docs/RELAY.md and docs/AUDIT_LOG.md with"
            " independent tools (json, rfc8785)."
        ),
        "decision_fields": (
            "context: the verified context as JSON (null unless valid); context_digest: base64url;"
            " signed_digest: hex; receipt: null or the receipt with base64 leafHash and inclusionProof"
        ),
        "cases": all_cases,
        "batches": batches(all_cases),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    text = json.dumps(document(), ensure_ascii=False, indent=1) + "\n"
    path = args.out / "records.json"
    if path.exists() and path.read_text(encoding="utf-8") != text and not args.force:
        print(f"{path} would change; pass --force to overwrite a committed vector", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({len(document()['cases'])} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

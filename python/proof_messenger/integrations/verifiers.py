"""Verifiers a Python service uses to require proofs: in process, or through a relay.

Both give the same answer for the same proof: the embedded verifier *is* the
relay's engine (same policy, same key registry and nonce store, same audit
log), minus HTTP; the relay verifier asks a running relay.

>>> import proof_messenger as pm, tempfile
>>> from proof_messenger.relay import load_config
>>> cfg = load_config(env={}, flags={"data_dir": tempfile.mkdtemp(), "decision_log": ""})
>>> v = EmbeddedVerifier(cfg, audience="payments-api")
>>> key = pm.SigningKey.generate()
>>> _ = v.enroll("alice", key.verifying_key)
>>> v.verify(pm.sign({"subject": "alice", "amount": "1.00"}, key, audience="payments-api").to_json()).subject
'alice'
>>> v.close()
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

import proof_messenger as pm

# Codes of the integration layer (the verdict codes come from the core and the relay).
PROOF_REQUIRED = "proof_required"  # 401: the request carries no proof
INVALID_PROOF_HEADER = "invalid_proof_header"  # 400: the header is not base64url of proof JSON
INVALID_BODY = "invalid_body"  # 400: the request body is not strict JSON (the core's parser)
CONTEXT_MISMATCH = "context_mismatch"  # 403: the proof approves another request than this body
VERIFIER_UNAVAILABLE = "verifier_unavailable"  # 503: the relay cannot be reached
AUDIENCE_MISMATCH = "audience_mismatch"  # 403: the proof is for another verifier (PROTOCOL.md)


class ProofRejected(Exception):
    """The request does not carry a valid proof for its body; ``status`` is the HTTP status to answer."""

    def __init__(self, code: str, detail: str, status: int = 403) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    subject: str | None
    context: dict[str, Any]
    key_id: str | None
    audience: str
    nonce: str | None
    timestamp_ms: int | None
    receipt_id: str | None
    context_digest: bytes | None


class Verifier(Protocol):
    audience: str

    def verify(self, proof_json: bytes) -> VerifiedProof: ...
    async def averify(self, proof_json: bytes) -> VerifiedProof: ...


def _rejected(verdict: dict[str, Any]) -> ProofRejected:
    code = verdict.get("code") or "invalid_proof"
    status = 429 if code == "rate_limited" else 403
    return ProofRejected(code, verdict.get("detail") or code, status)


class EmbeddedVerifier:
    """The relay's engine in this process: same policy, stores and audit log as a relay
    with the same configuration (point ``data_dir`` at a relay's data directory and
    keys enrolled through that relay's admin API count here too; share ``redis_url``
    and nonces are shared with every relay). Each proof goes through the whole
    lifecycle before :meth:`verify` returns: its audit entry is durable and its
    decision event written (in that order), as over HTTP."""

    def __init__(self, config: Any, *, audience: str, name: str = "embedded") -> None:
        # Imported here, not at the top: RelayVerifier's users need none of the relay's stores.
        from proof_messenger.relay.service import build_relay
        from proof_messenger.relay.stores.clients import ApiClient

        self.relay = build_relay(config, announce=None)
        self.audience = audience
        self._client = ApiClient(f"embedded:{name}", name, audience, 0)

    def enroll(self, subject: str, key: pm.VerifyingKey, **window: Any) -> Any:
        return self.relay.registry.enroll(
            subject, key.to_bytes(), key_id=key.key_id, now_ms=self.relay.clock(), **window
        )

    def verify(self, proof_json: bytes) -> VerifiedProof:
        from proof_messenger.relay.engine import Job

        job = Job([proof_json], single=True, client=self._client)
        self.relay.engine.run([job])
        if job.refusal is not None:
            status = 429 if job.refusal.code == "rate_limited" else 400
            raise ProofRejected(job.refusal.code, job.refusal.detail, status)
        d = job.decisions[0]
        if not d.valid:
            code = d.code or "invalid_proof"
            raise ProofRejected(code, d.detail or code, 429 if code == "rate_limited" else 403)
        return VerifiedProof(
            subject=d.subject,
            context=d.context or {},
            key_id=d.key_id,
            audience=d.audience,
            nonce=d.nonce,
            timestamp_ms=d.timestamp_ms,
            receipt_id=d.receipt_id,
            context_digest=d.context_digest,
        )

    async def averify(self, proof_json: bytes) -> VerifiedProof:
        return await asyncio.to_thread(self.verify, proof_json)

    def close(self) -> None:
        self.relay.close()


class RelayVerifier:
    """Asks a relay (``POST /v1/proofs/verify``) with bounded timeouts.

    Retries only when the request certainly did not run (connection refused,
    503 from a store outage), with exponential backoff; never after a read
    timeout, where the relay may already have consumed the nonce (a retry would
    then be told ``nonce_replayed``: the user signs again, nothing runs twice).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        audience: str,
        timeout_s: float = 2.0,
        retries: int = 2,
        backoff_s: float = 0.1,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not audience:
            raise ValueError("RelayVerifier needs the audience this service answers to")
        self.audience = audience
        self.retries = retries
        self.backoff_s = backoff_s
        headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 1.0))
        self._sync = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)
        self._async = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, transport=async_transport
        )

    def _outcome(self, response: httpx.Response, proof: pm.Proof) -> VerifiedProof | None:
        """The verified proof; ProofRejected; or None to retry (503).

        The relay vouches for the signature, the key's owner and the nonce; what was
        approved is read from the proof that was sent, never from the relay's JSON, and the
        relay's answer must be about that proof and this service's audience (an API key of
        another audience makes the relay check the proof against that one)."""
        if response.status_code == 503:
            return None
        try:
            body = response.json()
        except ValueError:
            raise ProofRejected(
                VERIFIER_UNAVAILABLE, f"relay answered {response.status_code} without JSON", 503
            ) from None
        if not isinstance(body, dict):
            raise ProofRejected(
                VERIFIER_UNAVAILABLE, f"relay answered {response.status_code} with a non-object", 503
            )
        if response.status_code == 200:
            if not body.get("valid"):
                raise _rejected(body)
            if body.get("audience") != self.audience or proof.audience != self.audience:
                raise ProofRejected(
                    AUDIENCE_MISMATCH, f"the proof is not addressed to {self.audience!r}", 403
                )
            digest = body.get("contextDigest")
            try:
                same = isinstance(digest, str) and _b64url_decode(digest) == proof.context_digest
            except ValueError:  # not base64 at all (binascii.Error is a ValueError)
                same = False
            if not same:
                raise ProofRejected(CONTEXT_MISMATCH, "the relay's verdict is about another context", 403)
            return _verified(body, proof)
        err = body.get("error", {})
        err = err if isinstance(err, dict) else {}
        code = err.get("code", "relay_error")
        if response.status_code in (400, 413):  # the proof itself is malformed
            raise ProofRejected(code, err.get("detail", ""), 400)
        if response.status_code == 429:
            raise ProofRejected(code, err.get("detail", ""), 429)
        # 401/403/415/...: this service is misconfigured, not the user's fault
        raise ProofRejected(VERIFIER_UNAVAILABLE, f"relay refused the request: {code}", 503)

    def verify(self, proof_json: bytes) -> VerifiedProof:
        proof = _parsed(proof_json)
        for attempt in range(self.retries + 1):
            try:
                result = self._outcome(self._sync.post("/v1/proofs/verify", content=proof_json), proof)
            except httpx.ConnectError:
                result = None
            except httpx.TimeoutException:
                raise ProofRejected(VERIFIER_UNAVAILABLE, "the relay did not answer in time", 503) from None
            if result is not None:
                return result
            if attempt < self.retries:
                time.sleep(self.backoff_s * 2**attempt)
        raise ProofRejected(VERIFIER_UNAVAILABLE, "the relay is unavailable", 503)

    async def averify(self, proof_json: bytes) -> VerifiedProof:
        proof = _parsed(proof_json)
        for attempt in range(self.retries + 1):
            try:
                result = self._outcome(await self._async.post("/v1/proofs/verify", content=proof_json), proof)
            except httpx.ConnectError:
                result = None
            except httpx.TimeoutException:
                raise ProofRejected(VERIFIER_UNAVAILABLE, "the relay did not answer in time", 503) from None
            if result is not None:
                return result
            if attempt < self.retries:
                await asyncio.sleep(self.backoff_s * 2**attempt)
        raise ProofRejected(VERIFIER_UNAVAILABLE, "the relay is unavailable", 503)

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()


def _b64url_decode(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parsed(proof_json: bytes) -> pm.Proof:
    """The proof as this service reads it (the relay refuses what does not parse, too)."""
    try:
        return pm.Proof.from_json(proof_json)
    except pm.ProofMessengerError as exc:
        raise ProofRejected(exc.code, exc.detail, 400) from None


def _verified(verdict: dict[str, Any], proof: pm.Proof) -> VerifiedProof:
    # The relay decides who signed (subject, key id) and hands out the receipt; the
    # approved action and its digest are the proof's own.
    return VerifiedProof(
        subject=verdict.get("subject"),
        context=proof.context,
        key_id=verdict.get("keyId"),
        audience=proof.audience,
        nonce=proof.nonce,
        timestamp_ms=proof.timestamp_ms,
        receipt_id=verdict.get("receiptId"),
        context_digest=proof.context_digest,
    )

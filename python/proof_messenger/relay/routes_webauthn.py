"""WebAuthn registration ceremony (docs/PROTOCOL.md section 10.5) and the wiring
of WebAuthn verification into the pipeline.

Enrolment is an admin action, as for Ed25519 keys:

- ``POST /v1/webauthn/registrations/challenge`` ``{"subject", "userName"?, "displayName"?}``:
  a one-time random challenge (32 bytes) with its expiry and the
  ``PublicKeyCredentialCreationOptions`` to pass to ``navigator.credentials.create``
  (binary members base64url);
- ``POST /v1/webauthn/registrations`` ``{"challenge", "attestationObject",
  "clientDataJSON", "transports"?, "label"?}``: verified with
  :func:`proof_messenger.verify_registration`; the credential is stored for the
  challenge's subject (a credential id already registered is 409).

With ``--demo`` the page may self-enrol a passkey for a fresh ``demo:<random>``
subject under ``/demo/api/webauthn/...`` (rate limited per address), as it does
for its Ed25519 key. WebAuthn is off (``unsupported_algorithm``) unless
``webauthn_rp_id`` is configured; the demo defaults it to ``localhost``.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

import proof_messenger as pm

from . import errors
from .api import _ADMIN_SECURITY, _body_doc, _responses, admin_guard, json_response
from .bodies import parse_model, read_body
from .errors import RelayError
from .webauthn import (
    PUB_KEY_CRED_PARAMS,
    DuplicateCredential,
    RelyingParty,
    WebAuthnHook,
    WebAuthnStore,
    b64url,
    b64url_decode,
)

if TYPE_CHECKING:
    from .app import Relay
    from .config import Config

_TEXT = r"^[^\x00-\x1f\x7f]*$"
_B64URL = r"^[A-Za-z0-9_-]*$"
_JSON = ("application/json",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegistrationChallengeRequest(_Strict):
    subject: str = Field(min_length=1, max_length=1024, pattern=_TEXT)
    userName: str | None = Field(default=None, max_length=256, pattern=_TEXT)
    displayName: str | None = Field(default=None, max_length=256, pattern=_TEXT)


class RegistrationRequest(_Strict):
    challenge: str = Field(min_length=22, max_length=128, pattern=_B64URL)
    attestationObject: str = Field(min_length=1, max_length=16384, pattern=_B64URL)
    clientDataJSON: str = Field(min_length=1, max_length=4096, pattern=_B64URL)
    transports: list[str] = Field(default_factory=list, max_length=8)
    label: str | None = Field(default=None, max_length=256, pattern=_TEXT)


class RegistrationOptionsOut(_Strict):
    challenge: str = Field(description="base64url of 32 random bytes; accepted once, until expiresAt")
    expiresAt: int
    subject: str
    publicKey: dict[str, Any] = Field(
        description="PublicKeyCredentialCreationOptions for navigator.credentials.create (binary: base64url)"
    )


class CredentialOut(_Strict):
    id: str
    subject: str
    credentialId: str
    keyId: str
    publicKey: str = Field(description="the COSE_Key as the authenticator encoded it, base64url")
    algorithm: int
    signCount: int
    transports: list[str]
    aaguid: str
    userHandle: str | None
    userVerified: bool
    backupEligible: bool
    backupState: bool
    attestationFormat: str
    label: str | None
    createdAt: int
    revokedAt: int | None


class CredentialListOut(_Strict):
    credentials: list[CredentialOut]


class DemoRegistrationChallengeRequest(_Strict):
    userName: str | None = Field(default=None, max_length=256, pattern=_TEXT)


def relying_party(cfg: Config) -> RelyingParty | None:
    rp_id = cfg.webauthn_rp_id or ("localhost" if cfg.demo else None)
    if not rp_id:
        return None
    origins = tuple(o.strip() for o in cfg.webauthn_origins.split(",") if o.strip())
    if not origins:
        origins = (
            (f"http://localhost:{cfg.port}",) if cfg.demo and rp_id == "localhost" else (f"https://{rp_id}",)
        )
    return RelyingParty(rp_id, origins, cfg.webauthn_rp_name)


def mount_webauthn(app: FastAPI, relay: Relay) -> WebAuthnStore:
    """Creates the credential store, hooks it into the pipeline and adds the routes."""
    cfg = relay.config
    store = WebAuthnStore(relay.db)
    rp = relying_party(cfg)
    if rp is not None:
        relay.pipeline.webauthn = WebAuthnHook(store, rp)
    app.state.webauthn = store

    require_admin = admin_guard(relay)

    def policy() -> RelyingParty:
        if rp is None:
            raise RelayError(errors.INVALID_REQUEST, "WebAuthn is not configured (set webauthn_rp_id)")
        return rp

    def creation_options(subject: str, user_name: str | None, display_name: str | None) -> dict[str, Any]:
        rp_ = policy()
        with relay.store_errors():
            ch = store.issue_challenge(subject, ttl_ms=cfg.challenge_ttl_ms, now_ms=relay.clock())
            existing = store.list_credentials(subject=subject)
        return {
            "challenge": b64url(ch.challenge),
            "expiresAt": ch.expires_at_ms,
            "subject": subject,
            "publicKey": {
                "challenge": b64url(ch.challenge),
                "rp": {"id": rp_.rp_id, "name": rp_.name},
                "user": {
                    "id": b64url(ch.user_handle),
                    "name": user_name or subject,
                    "displayName": display_name or user_name or subject,
                },
                "pubKeyCredParams": PUB_KEY_CRED_PARAMS,
                "timeout": cfg.challenge_ttl_ms,
                "attestation": "none",
                "authenticatorSelection": {"residentKey": "preferred", "userVerification": "required"},
                "excludeCredentials": [
                    {"type": "public-key", "id": b64url(r.credential_id), "transports": list(r.transports)}
                    for r in existing
                ],
            },
        }

    async def register(request: Request, *, subject_prefix: str | None = None) -> Response:
        rp_ = policy()
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=_JSON, timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, RegistrationRequest)
        try:
            challenge = b64url_decode(req.challenge)
            attestation = b64url_decode(req.attestationObject)
            client_data = b64url_decode(req.clientDataJSON)
        except ValueError:
            raise RelayError(errors.INVALID_REQUEST, "binary members must be canonical base64url") from None
        with relay.store_errors():
            ch = store.consume_challenge(challenge, now_ms=relay.clock())
        if ch is None or (subject_prefix is not None and not ch.subject.startswith(subject_prefix)):
            raise RelayError(
                errors.CHALLENGE_UNKNOWN, "unknown, used or expired registration challenge", status=400
            )
        try:
            reg = pm.verify_registration(
                attestation,
                client_data,
                challenge=ch.challenge,
                rp_id=rp_.rp_id,
                origins=list(rp_.origins),
                require_user_verification=rp_.require_user_verification,
                transports=req.transports,
            )
        except pm.ProofMessengerError as exc:
            raise RelayError(exc.code, exc.detail, status=400) from None
        try:
            with relay.store_errors():
                rec = store.add_registration(
                    ch.subject, reg, user_handle=ch.user_handle, label=req.label, now_ms=relay.clock()
                )
        except DuplicateCredential:
            raise RelayError(errors.ALREADY_ENROLLED, "this credential id is already registered") from None
        return json_response(rec.to_json(), 201)

    router = APIRouter(tags=["webauthn"])
    admin = [Depends(require_admin)]

    @router.post(
        "/v1/webauthn/registrations/challenge",
        summary="Start a WebAuthn registration for a subject (admin)",
        status_code=201,
        dependencies=admin,
        response_class=Response,
        responses=_responses(
            201, RegistrationOptionsOut, "The creation options", 400, 401, 408, 413, 415, 503
        ),
        openapi_extra=_body_doc(RegistrationChallengeRequest.model_json_schema()) | _ADMIN_SECURITY,
    )
    async def registration_challenge(request: Request) -> Response:
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=_JSON, timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, RegistrationChallengeRequest)
        return json_response(creation_options(req.subject, req.userName, req.displayName), 201)

    @router.post(
        "/v1/webauthn/registrations",
        summary="Finish a WebAuthn registration: verify and store the credential (admin)",
        status_code=201,
        dependencies=admin,
        response_class=Response,
        responses=_responses(201, CredentialOut, "The stored credential", 400, 401, 408, 409, 413, 415, 503),
        openapi_extra=_body_doc(RegistrationRequest.model_json_schema()) | _ADMIN_SECURITY,
    )
    async def registration(request: Request) -> Response:
        return await register(request)

    @router.get(
        "/v1/webauthn/credentials",
        summary="List registered WebAuthn credentials, optionally of one subject (admin)",
        dependencies=admin,
        response_class=Response,
        responses=_responses(200, CredentialListOut, "The credentials", 401, 503),
        openapi_extra=_ADMIN_SECURITY,
    )
    async def list_credentials(subject: str | None = None) -> Response:
        with relay.store_errors():
            recs = store.list_credentials(subject=subject)
        return json_response({"credentials": [r.to_json() for r in recs]})

    @router.post(
        "/v1/webauthn/credentials/{credential_id}/revoke",
        summary="Revoke a WebAuthn credential; takes effect on the next verification (admin)",
        dependencies=admin,
        response_class=Response,
        responses=_responses(200, CredentialOut, "The revoked credential", 400, 401, 404, 503),
        openapi_extra=_ADMIN_SECURITY,
    )
    async def revoke_credential(credential_id: str) -> Response:
        try:
            raw = b64url_decode(credential_id)
        except ValueError:
            raise RelayError(errors.INVALID_REQUEST, "credential id must be canonical base64url") from None
        with relay.store_errors():
            rec = store.revoke(raw, now_ms=relay.clock())
        if rec is None:
            raise RelayError(errors.NOT_FOUND, "no such credential")
        return json_response(rec.to_json())

    app.include_router(router)

    if cfg.demo:
        demo = APIRouter(prefix="/demo/api/webauthn", include_in_schema=False)

        @demo.post("/challenge")
        async def demo_challenge(request: Request) -> Response:
            """Demo only: a registration for a new demo subject, without the admin token."""
            ip = request.client.host if request.client else "?"
            if not relay.limiter.hit_subject(f"demo-enroll:{ip}").allowed:
                raise RelayError(
                    errors.RATE_LIMITED,
                    "too many enrolments from this address",
                    headers={"Retry-After": "60"},
                )
            body = await read_body(request, limit=4096, media_types=_JSON, timeout_s=cfg.body_timeout_s)
            req = parse_model(body or b"{}", DemoRegistrationChallengeRequest)
            subject = "demo:" + secrets.token_hex(8)
            return json_response(creation_options(subject, req.userName or subject, None), 201)

        @demo.post("/register")
        async def demo_register(request: Request) -> Response:
            return await register(request, subject_prefix="demo:")

        app.include_router(demo)
    return store

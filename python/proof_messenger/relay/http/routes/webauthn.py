"""The WebAuthn registration ceremony (docs/PROTOCOL.md section 10.5), an admin action
as Ed25519 enrolment is:

- ``POST /v1/webauthn/registrations/challenge`` ``{"subject", "userName"?, "displayName"?}``:
  a one-time random challenge (32 bytes) with its expiry and the
  ``PublicKeyCredentialCreationOptions`` to pass to ``navigator.credentials.create``
  (binary members base64url);
- ``POST /v1/webauthn/registrations`` ``{"challenge", "attestationObject",
  "clientDataJSON", "transports"?, "label"?}``: verified with
  :func:`proof_messenger.verify_registration`; the credential is stored for the
  challenge's subject (a credential id already registered is 409);
- ``GET /v1/webauthn/credentials?subject=``, ``POST /v1/webauthn/credentials/{id}/revoke``.

WebAuthn is off (``unsupported_algorithm``, and these routes answer 400) unless
``webauthn_rp_id`` is configured; the demo defaults it to ``localhost``. The
ceremony itself (:class:`Ceremony`) is shared with the demo's self-enrolment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

import proof_messenger as pm

from ... import errors
from ...errors import Refused
from ...stores.credentials import PUB_KEY_CRED_PARAMS, DuplicateCredential, b64url, b64url_decode
from .. import schemas
from ..bodies import parse_model, read_body
from ..encoding import json_response
from ..guards import admin_guard
from ..openapi import ADMIN_SECURITY, body_doc, responses

if TYPE_CHECKING:
    from ...service import Relay


class Ceremony:
    """Creation options and the verification of their answer, for one relay."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def policy(self) -> pm.RelyingParty:
        if self.relay.relying_party is None:
            raise Refused(errors.INVALID_REQUEST, "WebAuthn is not configured (set webauthn_rp_id)")
        return self.relay.relying_party

    def options(self, subject: str, user_name: str | None, display_name: str | None) -> dict[str, Any]:
        relay, cfg = self.relay, self.relay.config
        rp = self.policy()
        store = relay.credentials
        ch = store.issue_challenge(subject, ttl_ms=cfg.challenge_ttl_ms, now_ms=relay.clock())
        existing = store.list_credentials(subject=subject)
        return {
            "challenge": b64url(ch.challenge),
            "expiresAt": ch.expires_at_ms,
            "subject": subject,
            "publicKey": {
                "challenge": b64url(ch.challenge),
                "rp": {"id": rp.rp_id, "name": cfg.webauthn_rp_name},
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

    async def register(self, request: Request, *, subject_prefix: str | None = None) -> Response:
        relay, cfg = self.relay, self.relay.config
        rp = self.policy()
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=(schemas.JSON,), timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, schemas.RegistrationRequest)
        try:
            challenge = b64url_decode(req.challenge)
            attestation = b64url_decode(req.attestationObject)
            client_data = b64url_decode(req.clientDataJSON)
        except ValueError:
            raise Refused(errors.INVALID_REQUEST, "binary members must be canonical base64url") from None
        ch = relay.credentials.consume_challenge(challenge, now_ms=relay.clock())
        if ch is None or (subject_prefix is not None and not ch.subject.startswith(subject_prefix)):
            raise Refused(errors.CHALLENGE_UNKNOWN, "unknown, used or expired registration challenge")
        try:
            reg = pm.verify_registration(
                attestation,
                client_data,
                challenge=ch.challenge,
                rp_id=rp.rp_id,
                origins=rp.origins,
                require_user_verification=rp.require_user_verification,
                transports=req.transports,
            )
        except pm.ProofMessengerError as exc:
            raise Refused(exc.code, exc.detail) from None
        try:
            rec = relay.credentials.add_registration(
                ch.subject, reg, user_handle=ch.user_handle, label=req.label, now_ms=relay.clock()
            )
        except DuplicateCredential:
            raise Refused(errors.ALREADY_ENROLLED, "this credential id is already registered") from None
        return json_response(rec.to_json(), 201)


def router(relay: Relay) -> APIRouter:
    cfg = relay.config
    ceremony = Ceremony(relay)
    api = APIRouter(tags=["webauthn"], dependencies=[Depends(admin_guard(relay))])

    @api.post(
        "/v1/webauthn/registrations/challenge",
        summary="Start a WebAuthn registration for a subject (admin)",
        status_code=201,
        response_class=Response,
        responses=responses(
            201, schemas.RegistrationOptionsOut, "The creation options", 400, 401, 408, 413, 415, 503
        ),
        openapi_extra=body_doc("RegistrationChallengeRequest") | ADMIN_SECURITY,
    )
    async def registration_challenge(request: Request) -> Response:
        body = await read_body(
            request, limit=cfg.max_body_bytes, media_types=(schemas.JSON,), timeout_s=cfg.body_timeout_s
        )
        req = parse_model(body, schemas.RegistrationChallengeRequest)
        return json_response(ceremony.options(req.subject, req.userName, req.displayName), 201)

    @api.post(
        "/v1/webauthn/registrations",
        summary="Finish a WebAuthn registration: verify and store the credential (admin)",
        status_code=201,
        response_class=Response,
        responses=responses(
            201, schemas.CredentialOut, "The stored credential", 400, 401, 408, 409, 413, 415, 503
        ),
        openapi_extra=body_doc("RegistrationRequest") | ADMIN_SECURITY,
    )
    async def registration(request: Request) -> Response:
        return await ceremony.register(request)

    @api.get(
        "/v1/webauthn/credentials",
        summary="List registered WebAuthn credentials, optionally of one subject (admin)",
        response_class=Response,
        responses=responses(200, schemas.CredentialListOut, "The credentials", 401, 503),
        openapi_extra=ADMIN_SECURITY,
    )
    async def list_credentials(subject: str | None = None) -> Response:
        recs = relay.credentials.list_credentials(subject=subject)
        return json_response({"credentials": [r.to_json() for r in recs]})

    @api.post(
        "/v1/webauthn/credentials/{credential_id}/revoke",
        summary="Revoke a WebAuthn credential; takes effect on the next verification (admin)",
        response_class=Response,
        responses=responses(200, schemas.CredentialOut, "The revoked credential", 400, 401, 404, 503),
        openapi_extra=ADMIN_SECURITY,
    )
    async def revoke_credential(credential_id: str) -> Response:
        try:
            raw = b64url_decode(credential_id)
        except ValueError:
            raise Refused(errors.INVALID_REQUEST, "credential id must be canonical base64url") from None
        rec = relay.credentials.revoke(raw, now_ms=relay.clock())
        if rec is None:
            raise Refused(errors.NOT_FOUND, "no such credential")
        return json_response(rec.to_json())

    return api

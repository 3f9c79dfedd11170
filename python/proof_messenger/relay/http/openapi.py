"""The OpenAPI document: one table of error answers, the hand-written verification
operations (they are plain ASGI, not framework routes), and the assembly.

Every route declares its answers with :func:`responses` and its body with
:func:`body_doc`; every error status has one description (:data:`ERRORS`) and
the error envelope's schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import schemas

ERRORS: dict[int, str] = {
    400: "Malformed request (the code says why; a malformed proof has the core's code)",
    401: "Missing, unknown or revoked credential (see WWW-Authenticate)",
    403: "Authenticated, but the resource is not yours (audit entries: the deciding client or an auditor)",
    404: "No such resource (audit log: only checkpointed sizes are served)",
    408: "The body did not arrive in time",
    409: "Already enrolled",
    413: "Body or batch too large",
    415: "Wrong Content-Type",
    429: "Rate limited; see Retry-After",
    503: "A store is unavailable, or the relay is at its in-flight limit (overloaded)",
}
CLIENT_SECURITY: dict[str, Any] = {"security": [{"apiKey": []}]}
ADMIN_SECURITY: dict[str, Any] = {"security": [{"adminToken": []}]}
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def errors_doc(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers ``codes``, each with its description and the error envelope."""
    return {c: {"model": schemas.ErrorBody, "description": ERRORS[c]} for c in codes}


def responses(
    status: int, model: type[BaseModel], description: str, *codes: int
) -> dict[int | str, dict[str, Any]]:
    """A route's answers: the success model and the error envelope for each error status."""
    return {status: {"model": model, "description": description}, **errors_doc(*codes)}


def body_doc(schema: str | dict[str, Any], media: str = schemas.JSON) -> dict[str, Any]:
    """A required request body: a component name or an inline JSON schema."""
    ref = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"requestBody": {"required": True, "content": {media: {"schema": ref}}}}


def _error(code: int) -> dict[str, Any]:
    return {"description": ERRORS[code], "content": {"application/json": {"schema": _ERROR_REF}}}


def verify_operations(verify_path: str, batch_path: str, max_batch_count: int) -> dict[str, Any]:
    """The two verification operations (``relay.http.verify``)."""

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}

    common = {str(c): _error(c) for c in (400, 401, 408, 413, 415, 429, 503)}
    return {
        verify_path: {
            "post": {
                "tags": ["verify"],
                "summary": "Verify one proof",
                "operationId": "verify_proof",
                "description": (
                    "The body is the proof JSON. A malformed proof is 400 with the core's code; every "
                    "later check yields 200 with a verdict (valid=false and a code when a check failed) "
                    "and an audit receipt. The proof must be addressed to the client's audience."
                ),
                **CLIENT_SECURITY,
                **body_doc("Proof"),
                "responses": {
                    "200": {
                        "description": "A verdict",
                        "content": {"application/json": {"schema": ref("Verdict")}},
                    },
                    **common,
                },
            }
        },
        batch_path: {
            "post": {
                "tags": ["verify"],
                "summary": "Verify many proofs (NDJSON, one proof per line)",
                "operationId": "verify_batch",
                "description": (
                    f"Up to max_batch_count proofs (default {max_batch_count}), one JSON proof per "
                    "line (application/x-ndjson). Every line gets a verdict, in order; a malformed line "
                    "or a subject over its rate limit is that line's verdict. The client's rate limit "
                    "is charged one unit per proof."
                ),
                **CLIENT_SECURITY,
                **body_doc({"type": "array", "items": ref("Proof")}, schemas.NDJSON),
                "responses": {
                    "200": {
                        "description": "One verdict per line",
                        "content": {"application/json": {"schema": ref("BatchVerdicts")}},
                    },
                    **common,
                },
            }
        },
    }


_COMPONENTS: tuple[type[BaseModel], ...] = (
    schemas.Proof,
    schemas.ChallengeRequest,
    schemas.KeyEnrollRequest,
    schemas.ClientCreateRequest,
    schemas.RegistrationChallengeRequest,
    schemas.RegistrationRequest,
    schemas.Verdict,
    schemas.BatchVerdicts,
    schemas.ErrorBody,
)


def document(app: FastAPI, verify: dict[str, Any]) -> dict[str, Any]:
    """The whole document: the framework's routes, the verification operations, the
    components and both security schemes."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schema["paths"] = {**verify, **schema.get("paths", {})}
    _, defs = models_json_schema(
        [(m, "validation") for m in _COMPONENTS], ref_template="#/components/schemas/{model}"
    )
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {}).update(defs.get("$defs", {}))
    components["securitySchemes"] = {
        "apiKey": {"type": "http", "scheme": "bearer", "description": "An API client's key (pmk_...)."},
        "adminToken": {"type": "http", "scheme": "bearer", "description": "The relay's admin token."},
    }
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            answers = op.get("responses", {})
            # FastAPI's 422 is never sent: validation failures are 400 with the error envelope.
            if answers.pop("422", None) is not None and "400" not in answers:
                answers["400"] = _error(400)
    components.get("schemas", {}).pop("HTTPValidationError", None)
    components.get("schemas", {}).pop("ValidationError", None)
    return schema

"""Sample backend: POST /api/execute-transfer runs only with a valid proof for its exact body.

The browser (or any client) sends the transfer as the JSON body and the proof
of the user's approval in the ``Proof-Messenger-Proof`` header. The service
verifies it through a relay (or in process) and then acts on the *verified*
context, never on anything unsigned.

Through a relay (recommended):

    proof-messenger relay                                 # prints the admin token once
    curl -s -X POST http://127.0.0.1:8787/v1/admin/clients \\
         -H "Authorization: Bearer $(cat data/admin.token)" -H 'Content-Type: application/json' \\
         -d '{"name": "transfer-service", "audience": "payments-api"}'      # -> apiKey
    TRANSFER_SERVICE_RELAY_URL=http://127.0.0.1:8787 TRANSFER_SERVICE_API_KEY=pmk_... \\
         uvicorn transfer_service:app --app-dir examples --port 8000

In process (the relay's pipeline and data directory, no relay process):

    TRANSFER_SERVICE_DATA_DIR=./data uvicorn transfer_service:app --app-dir examples --port 8000

Then ``python examples/transfer_client.py --service http://127.0.0.1:8000 ...``
signs a transfer and calls the endpoint (see its --help).
"""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI, HTTPException
from proof_messenger.integrations import EmbeddedVerifier, RelayVerifier, VerifiedProof, Verifier
from proof_messenger.integrations.fastapi import require_proof

AUDIENCE = "payments-api"


def create_service(verifier: Verifier) -> FastAPI:
    app = FastAPI(title="transfer-service (proof-messenger example)")
    app.state.verifier = verifier
    executed: list[dict] = []

    verified = Depends(require_proof(verifier))  # rejects the request unless the body carries a valid proof

    @app.post("/api/execute-transfer")
    async def execute_transfer(proof: VerifiedProof = verified) -> dict:
        transfer = proof.context  # the signed request, byte-for-byte what the user approved
        if transfer.get("action") != "wire_transfer":
            raise HTTPException(
                422, detail={"code": "unsupported_action", "detail": "expected a wire_transfer"}
            )
        # A real service also checks that proof.subject is the logged-in user.
        executed.append(transfer)
        return {
            "status": "executed",
            "transfer": {k: transfer.get(k) for k in ("amount", "currency", "to")},
            "approvedBy": proof.subject,
            "keyId": proof.key_id,
            "receiptId": proof.receipt_id,
        }

    @app.get("/api/executed")
    async def list_executed() -> dict:
        return {"executed": executed}

    return app


def verifier_from_env() -> Verifier:
    url = os.environ.get("TRANSFER_SERVICE_RELAY_URL")
    if url:
        return RelayVerifier(url, os.environ["TRANSFER_SERVICE_API_KEY"], audience=AUDIENCE)
    from proof_messenger.relay import load_config

    data_dir = os.environ.get("TRANSFER_SERVICE_DATA_DIR", "data")
    return EmbeddedVerifier(load_config(flags={"data_dir": data_dir}), audience=AUDIENCE)


def __getattr__(name: str):  # `uvicorn transfer_service:app` builds the app on first access
    if name == "app":
        globals()["app"] = create_service(verifier_from_env())
        return globals()["app"]
    raise AttributeError(name)

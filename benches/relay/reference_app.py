"""The reference verifier for the relay benchmark: a minimal FastAPI endpoint doing
only what docs/PROTOCOL.md section 4-5 needs to check a signature — RFC 8785 (rfc8785)
and Ed25519 (PyNaCl/libsodium). No key registry, no replay store, no rate limit, no
logging, no audit: the floor the relay's full pipeline is compared with.

    uvicorn reference_app:app --app-dir benches/relay --loop uvloop --http httptools
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import rfc8785
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

app = FastAPI()
DST = b"proof-messenger/v1/signing-payload\x00"


def _field(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


@app.post("/verify")
async def verify(request: Request) -> JSONResponse:
    proof = json.loads(await request.body())
    nonce = base64.urlsafe_b64decode(proof["nonce"] + "=" * (-len(proof["nonce"]) % 4))
    payload = (
        DST
        + _field(proof["algorithm"].encode())
        + _field(proof["audience"].encode())
        + struct.pack(">Q", proof["timestamp"])
        + _field(nonce)
        + hashlib.sha256(rfc8785.dumps(proof["context"])).digest()
    )
    key = base64.b64decode(proof["publicKey"])
    try:
        VerifyKey(key[-32:]).verify(hashlib.sha256(payload).digest(), base64.b64decode(proof["signature"]))
        valid = True
    except BadSignatureError:
        valid = False
    return JSONResponse({"valid": valid})

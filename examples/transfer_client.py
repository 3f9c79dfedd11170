"""Sign a wire transfer and send it to the sample service (examples/transfer_service.py).

    python examples/transfer_client.py --service http://127.0.0.1:8000 \\
        --relay http://127.0.0.1:8787 --admin-token "$(cat data/admin.token)" --subject alice

With --admin-token the client enrols its (fresh) key for --subject first, the
way a real deployment enrols a user's device key. It then sends: the signed
transfer (accepted), the same request again (nonce_replayed), and the proof
with the amount changed in transit (context_mismatch).
"""

from __future__ import annotations

import argparse
import json
import sys

import httpx
import proof_messenger as pm
from proof_messenger.integrations import PROOF_HEADER, encode_header

AUDIENCE = "payments-api"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--service", default="http://127.0.0.1:8000")
    ap.add_argument("--relay", default="http://127.0.0.1:8787")
    ap.add_argument("--admin-token")
    ap.add_argument("--subject", default="alice")
    ap.add_argument("--amount", default="2500.00")
    args = ap.parse_args()

    key = pm.SigningKey.generate()
    with httpx.Client(timeout=10) as http:
        if args.admin_token:
            r = http.post(
                f"{args.relay}/v1/admin/keys",
                headers={"authorization": f"Bearer {args.admin_token}"},
                json={
                    "subject": args.subject,
                    "publicKey": key.verifying_key.to_base64(),
                    "label": "example",
                },
            )
            r.raise_for_status()
        transfer = {
            "action": "wire_transfer",
            "amount": args.amount,
            "currency": "EUR",
            "to": "DE89370400440532013000",
            "subject": args.subject,
        }
        body = json.dumps(transfer).encode()
        proof = pm.sign(transfer, key, audience=AUDIENCE)
        print("fingerprint shown to the user:", pm.fingerprint(transfer))
        headers = {"content-type": "application/json", PROOF_HEADER: encode_header(proof.to_json())}
        for label, payload in (
            ("signed transfer", body),
            ("same request again", body),
            ("amount changed in transit", body.replace(args.amount.encode(), b"99999.00")),
        ):
            r = http.post(f"{args.service}/api/execute-transfer", content=payload, headers=headers)
            print(f"{label:28s} -> {r.status_code} {r.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

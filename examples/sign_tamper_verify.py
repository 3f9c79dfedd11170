"""Sign a wire transfer, tamper with it in transit, verify both: no server needed.

.venv/bin/python examples/sign_tamper_verify.py
"""

from __future__ import annotations

import json

import proof_messenger as pm


def main() -> None:
    device_key = pm.SigningKey.generate()  # lives on the user's device
    enrolled = {"alice": [device_key.verifying_key]}  # the verifier's key registry

    context = {
        "action": "wire_transfer",
        "amount": "50000.00",
        "currency": "EUR",
        "to": "ACME-CORP-ACCOUNT-123",
        "subject": "alice",
    }
    print("user approves:", json.dumps(context))
    print("fingerprint shown on the device:", pm.fingerprint(context))
    wire = pm.sign(context, device_key, audience="payments-api").to_json()

    def verify(body: bytes) -> pm.VerificationResult:
        return pm.verify(body, resolver=lambda subject: enrolled.get(subject, []), audience="payments-api")

    result = verify(wire)
    print(f"untouched proof   -> valid={result.valid} key_id={result.key_id} nonce={result.nonce}")

    tampered = json.loads(wire)
    tampered["context"]["to"] = "MALLORY-ACCOUNT-666"
    result = verify(json.dumps(tampered).encode())
    print(f"proxy changed 'to' -> valid={result.valid} code={result.code}")

    other_key = pm.SigningKey.generate()
    forged = pm.sign(tampered["context"], other_key, audience="payments-api").to_json()
    result = verify(forged)
    print(f"re-signed by an attacker's key -> valid={result.valid} code={result.code}")

    result = pm.verify(wire, resolver=lambda s: enrolled.get(s, []), audience="other-service")
    print(f"replayed to another service -> valid={result.valid} code={result.code}")


if __name__ == "__main__":
    main()

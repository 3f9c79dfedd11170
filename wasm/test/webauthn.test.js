// requestProof's WebAuthn path (docs/PROTOCOL.md section 10) with a fake
// navigator.credentials.get: what is asked of the authenticator, and the
// proof assembled from its answer. (The real browser path is tested in
// tests/browser/test_webauthn_browser.py with a virtual authenticator.)
import { test } from "node:test";
import assert from "node:assert/strict";

import * as pm from "../index.js";

await pm.init();

const CONTEXT = { action: "wire_transfer", amount: "100.00", subject: "alice", to: "ACME" };
const NONCE = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

function fakeCredentials(userHandle) {
  const calls = [];
  const get = async (options) => {
    calls.push(options);
    return {
      rawId: new Uint8Array([1, 2, 3, 4]).buffer,
      response: {
        authenticatorData: new Uint8Array(37).buffer,
        clientDataJSON: new TextEncoder().encode('{"type":"webauthn.get"}').buffer,
        signature: new Uint8Array([9, 9, 9]).buffer,
        userHandle,
      },
    };
  };
  Object.defineProperty(globalThis, "navigator", { value: { credentials: { get } }, configurable: true });
  return calls;
}

test("requestProof with a credential asks for UV with the WebAuthn challenge and assembles the proof", async () => {
  const calls = fakeCredentials(null);
  const proof = await pm.requestProof({
    context: CONTEXT,
    credential: { id: "AQIDBA", transports: ["internal"] },
    audience: "payments-api",
    nonce: NONCE,
    timestamp: 1_764_331_200_000,
  });
  assert.equal(calls.length, 1);
  const pk = calls[0].publicKey;
  assert.equal(pk.userVerification, "required");
  assert.deepEqual([...pk.allowCredentials[0].id], [1, 2, 3, 4]);
  assert.deepEqual(pk.allowCredentials[0].transports, ["internal"]);
  const expected = pm.webauthnChallenge({ context: CONTEXT, audience: "payments-api", timestamp: 1_764_331_200_000, nonce: NONCE });
  assert.equal(Buffer.from(pk.challenge).toString("base64url"), expected);
  assert.deepEqual(Object.keys(proof).sort(), [
    "algorithm", "audience", "authenticatorData", "clientDataJSON", "context", "credentialId", "nonce", "signature", "timestamp", "version",
  ]);
  assert.equal(proof.algorithm, "WebAuthn");
  assert.equal(proof.credentialId, "AQIDBA");
  assert.equal(proof.signature, "CQkJ");
  assert.deepEqual(proof.context, CONTEXT);
});

test("userHandle is carried when the authenticator returns one", async () => {
  fakeCredentials(new Uint8Array([7, 7]).buffer);
  const proof = await pm.requestProof({ context: CONTEXT, credential: "AQIDBA", audience: "a", nonce: NONCE });
  assert.equal(proof.userHandle, "Bwc");
});

test("signer and credential together are refused", async () => {
  fakeCredentials(null);
  await assert.rejects(
    pm.requestProof({ context: CONTEXT, credential: "AQIDBA", signer: {}, audience: "a" }),
    (e) => e.code === "invalid_type",
  );
});

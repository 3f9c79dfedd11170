// Every shared vector in tests/vectors/, through the JS API: canonical forms,
// digests, payloads, proofs and verdicts must be byte-identical with the Rust
// core and the Python package.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";

import * as pm from "../index.js";
import { VECTORS, vectors, hex, fromHex, fromB64, outcome } from "./helpers.js";

await pm.init();

test("canonical_v1.json: canonical text or error code", () => {
  const { cases } = vectors("canonical_v1.json");
  assert.ok(cases.length > 100);
  for (const c of cases) {
    const input = c.input_hex !== undefined ? fromHex(c.input_hex) : c.input;
    const options = { maxBytes: c.max_bytes ?? 65536, maxDepth: c.max_depth ?? 32 };
    const got = outcome(() => pm.canonicalizeJson(input, options));
    if (c.error !== undefined) {
      assert.equal(got.code, c.error, c.name);
    } else {
      assert.equal(got.code, "ok", c.name);
      assert.equal(got.value, c.expected, c.name);
      // The same value as a JS object: JSON.parse loses nothing for accepted inputs.
      assert.equal(pm.canonicalize(JSON.parse(c.input), { maxDepth: options.maxDepth }), c.expected, c.name);
    }
  }
});

test("jcs/: RFC 8785 reference data (cyberphone/json-canonicalization)", () => {
  const dir = path.join(VECTORS, "jcs");
  const names = readdirSync(path.join(dir, "input")).filter((n) => n.endsWith(".json"));
  assert.ok(names.length >= 6);
  for (const name of names) {
    const input = readFileSync(path.join(dir, "input", name), "utf8");
    const expected = readFileSync(path.join(dir, "output", name), "utf8");
    // A JS value holds the nearest double, which is what JCS canonicalises.
    assert.equal(pm.canonicalize(JSON.parse(input)), expected, name);
    // As text, the strict parser rejects the one literal that is not exactly a double.
    const text = outcome(() => pm.canonicalizeJson(input));
    if (name === "values.json") {
      assert.equal(text.code, "inexact_number", name);
      const exact = input.replace("333333333.33333329", "333333333.3333333");
      assert.equal(pm.canonicalizeJson(exact), expected, name);
    } else {
      assert.equal(text.value, expected, name);
    }
  }
});

test("proof_v1.json cases: every derived value and the proof", () => {
  const { cases } = vectors("proof_v1.json");
  // checked against an independent node:crypto computation of PROTOCOL.md 10.3 in webauthn_challenge_vectors.test.js
  const webauthnChallenges = new Map(
    JSON.parse(readFileSync(new URL("./webauthn_challenge_vectors.json", import.meta.url), "utf8")).cases.map((w) => [w.name, w.webauthn_challenge]),
  );
  assert.equal(webauthnChallenges.size, cases.length);
  assert.ok(cases.length >= 5);
  for (const c of cases) {
    const context = JSON.parse(c.context_json);
    assert.equal(pm.canonicalize(context), c.canonical_context, c.name);
    assert.equal(hex(pm.contextDigest(context)), c.context_digest_hex, c.name);
    assert.equal(pm.fingerprint(context), c.fingerprint, c.name);
    const draft = pm.signingPayload({ context, audience: c.audience, timestamp: c.timestamp_ms, nonce: c.nonce });
    assert.equal(hex(draft.payload), c.payload_hex, c.name);
    assert.equal(hex(draft.digest), c.signed_digest_hex, c.name);
    assert.equal(hex(draft.contextDigest), c.context_digest_hex, c.name);
    assert.equal(draft.canonicalContext, c.canonical_context, c.name);
    assert.equal(draft.fingerprint, c.fingerprint, c.name);
    // The WebAuthn challenge is the digest with algorithm "WebAuthn" (PROTOCOL.md 10.3), not the Ed25519 one.
    assert.notEqual(draft.challenge, Buffer.from(c.signed_digest_hex, "hex").toString("base64url"), c.name);
    assert.equal(draft.challenge, webauthnChallenges.get(c.name), c.name);
    assert.equal(Buffer.from(draft.webauthnDigest).toString("base64url"), draft.challenge, c.name);
    assert.equal(pm.webauthnChallenge({ context, audience: c.audience, timestamp: c.timestamp_ms, nonce: c.nonce }), draft.challenge);
    assert.equal(pm.keyId(fromHex(c.public_key_hex)), c.key_id, c.name);
    assert.equal(pm.keyId(c.public_key_spki_b64), c.key_id, c.name);
    for (const key of [fromHex(c.public_key_hex), fromB64(c.public_key_spki_b64)]) {
      const proof = pm.assembleProof(draft, fromHex(c.signature_hex), key);
      assert.equal(pm.canonicalize(proof), c.proof_json, c.name);
      assert.equal(JSON.stringify(proof), c.proof_json, c.name); // already in canonical member order
    }
  }
});

function policyOptions(policy) {
  const options = {
    audience: policy.audience,
    now: policy.now_ms,
    maxAgeMs: policy.max_age_ms,
    maxSkewMs: policy.max_skew_ms,
    maxBytes: policy.max_bytes,
    maxDepth: policy.max_depth,
  };
  if (policy.subject_keys_b64 !== undefined) {
    // Keys are validated when configured, as the vectors' description says.
    const table = new Map(Object.entries(policy.subject_keys_b64).map(([s, keys]) => [s, keys.map((k) => pm.keyId(k) && k)]));
    options.resolver = (subject) => table.get(subject) ?? [];
  } else {
    options.trustedKeys = policy.trusted_public_keys_b64;
  }
  return options;
}

test("proof_v1.json verdicts: every verdict and code", () => {
  const { verdicts } = vectors("proof_v1.json");
  assert.ok(verdicts.length > 100);
  for (const v of verdicts) {
    const proof = v.proof_hex !== undefined ? fromHex(v.proof_hex) : v.proof_json;
    const got = outcome(() => pm.verifyProof(proof, policyOptions(v.policy)));
    // Invalid trusted keys are configuration errors in JS (thrown), verdicts in the vectors.
    const verdict = got.code === "ok" ? { valid: got.value.valid, code: got.value.code } : { valid: false, code: got.code };
    assert.deepEqual(verdict, v.expected, v.name);
    if (verdict.valid) {
      assert.equal(got.value.context !== null, true, v.name);
      assert.equal(pm.canonicalize(JSON.parse(v.proof_json).context), pm.canonicalize(got.value.context), v.name);
    }
  }
});

test("ed25519: RFC 8032 section 7.1", () => {
  const { tests } = vectors("rfc8032.json");
  for (const t of tests) {
    const key = fromHex(t.public_key);
    assert.equal(pm.verifySignature(key, fromHex(t.message), fromHex(t.signature)), true, t.name);
    const bad = fromHex(t.signature);
    bad[0] ^= 1;
    assert.equal(pm.verifySignature(key, fromHex(t.message), bad), false, t.name);
  }
});

test("ed25519: Wycheproof EdDSA verdicts", () => {
  const wp = vectors("wycheproof/ed25519_test.json");
  let count = 0;
  for (const group of wp.testGroups) {
    const key = fromHex(group.publicKey.pk);
    for (const t of group.tests) {
      const got = outcome(() => pm.verifySignature(key, fromHex(t.msg), fromHex(t.sig)));
      const accepted = got.code === "ok" && got.value === true;
      assert.equal(accepted, t.result === "valid", `tcId ${t.tcId}: ${t.comment}`);
      count++;
    }
  }
  assert.equal(count, wp.numberOfTests);
});

test("ed25519_edge.json: strict keys and the cofactored rule", () => {
  const edge = vectors("ed25519_edge.json");
  for (const k of edge.public_keys) {
    const got = outcome(() => pm.keyId(fromHex(k.public_key_hex)));
    assert.equal(got.code === "ok" ? null : got.code, k.expected, k.name);
  }
  for (const s of edge.signatures) {
    const got = outcome(() => pm.verifySignature(fromHex(s.public_key_hex), fromHex(s.message_hex), fromHex(s.signature_hex)));
    assert.equal(got.code === "ok" && got.value === true, s.valid, s.name);
    const verdict = outcome(() => pm.verifyProof(s.proof_json, policyOptions(s.proof_policy)));
    const seen = verdict.code === "ok" ? { valid: verdict.value.valid, code: verdict.value.code } : { valid: false, code: verdict.code };
    assert.deepEqual(seen, s.proof_expected, s.name);
  }
});

// The JS surface: conversion of JS values (codes equal to the Python
// package's for the equivalent Python value), WebCrypto signing, snapshots,
// verification options, loading.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import * as pm from "../index.js";
import { hex, outcome, vectors } from "./helpers.js";

await pm.init();

const AUDIENCE = "payments-api";
const WIRE = Object.freeze({
  action: "wire_transfer",
  amount: "50000.00",
  currency: "EUR",
  to: "ACME-CORP-ACCOUNT-123",
  subject: "alice",
});

async function keyPair() {
  return crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
}

async function rawKey(pair) {
  return new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
}

test("JS values JSON cannot carry are rejected with the Python package's codes", () => {
  class Point {
    constructor() {
      this.x = 1;
    }
  }
  const hole = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const cases = [
    [{ a: NaN }, "non_finite_number"],
    [{ a: Infinity }, "non_finite_number"],
    [{ a: [1, -Infinity] }, "non_finite_number"],
    [{ a: "\ud800" }, "lone_surrogate"],
    [{ a: "x\udc00" }, "lone_surrogate"],
    [{ "\ud83d": 1 }, "lone_surrogate"],
    [{ a: undefined }, "invalid_type"],
    [{ a: () => 1 }, "invalid_type"],
    [{ a: 1n }, "invalid_type"],
    [{ a: Symbol("s") }, "invalid_type"],
    [{ a: new Date(0) }, "invalid_type"],
    [{ a: new Map() }, "invalid_type"],
    [{ a: new Set() }, "invalid_type"],
    [{ a: new Uint8Array(2) }, "invalid_type"],
    [{ a: new Point() }, "invalid_type"],
    [{ a: new Number(1) }, "invalid_type"],
    [{ a: hole }, "invalid_type"],
    [{ [Symbol("k")]: 1 }, "invalid_type"],
    [{ a: { toJSON: () => 1 } }, "invalid_type"],
  ];
  for (const [value, code] of cases) {
    assert.equal(outcome(() => pm.canonicalize(value)).code, code, JSON.stringify(Object.keys(value)));
    assert.equal(outcome(() => pm.contextDigest(value)).code, code);
    assert.equal(outcome(() => pm.fingerprint(value)).code, code);
  }
  // The first problem in document order wins, as in Python.
  assert.equal(outcome(() => pm.canonicalize({ b: NaN, a: "\ud800" })).code, "non_finite_number");
  assert.equal(outcome(() => pm.canonicalize({ a: "\ud800", b: NaN })).code, "lone_surrogate");
  const e = outcome(() => pm.canonicalize({ list: [0, { deep: NaN }] }));
  assert.equal(e.code, "non_finite_number");
});

test("errors are ProofMessengerError with code and detail", () => {
  try {
    pm.canonicalize({ when: new Date(0) });
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof pm.ProofMessengerError);
    assert.ok(e instanceof Error);
    assert.equal(e.name, "ProofMessengerError");
    assert.equal(e.code, "invalid_type");
    assert.match(e.detail, /\$\.when/);
    assert.ok(pm.ERROR_CODES.includes(e.code));
  }
  // Errors raised inside WASM are the same class.
  try {
    pm.canonicalizeJson('{"a":1,"a":2}');
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof pm.ProofMessengerError);
    assert.equal(e.code, "duplicate_key");
  }
});

test("any JSON value canonicalises (like Python's canonicalize); edge numbers", () => {
  assert.equal(pm.canonicalize([1, "a", null, true]), '[1,"a",null,true]');
  assert.equal(pm.canonicalize("x"), '"x"');
  assert.equal(pm.canonicalize(null), "null");
  assert.equal(
    pm.canonicalize({ n: [5e-324, 1e21, -0, 2 ** 53, 1e-7, 0.1, 123456789012345680000, -1.5e300] }),
    '{"n":[5e-324,1e+21,0,9007199254740992,1e-7,0.1,123456789012345680000,-1.5e+300]}',
  );
  // Members sort by UTF-16 code units: U+10000 (a surrogate pair) before U+FFFD.
  assert.equal(pm.canonicalize({ "\ufffd": 1, "\u{10000}": 2, a: 3 }), '{"a":3,"\u{10000}":2,"\ufffd":1}');
  // Objects with a null prototype are plain objects too.
  const bare = Object.create(null);
  bare.b = 1;
  bare.a = 2;
  assert.equal(pm.canonicalize(bare), '{"a":2,"b":1}');
  assert.equal(pm.fingerprint(WIRE), "TB24-NF4E-H9NE-9C7B");
  assert.equal(hex(pm.contextDigest(WIRE)), "d2c44abc8e8a6ae4b0ebfe7eb90798ebacbabd8073c24609b853b2d10840f1cb");
});

test("nesting limits and cycles", () => {
  const nest = (n) => {
    let v = 1;
    for (let i = 0; i < n; i++) v = [v];
    return v;
  };
  assert.equal(outcome(() => pm.canonicalize(nest(32))).code, "ok");
  assert.equal(outcome(() => pm.canonicalize(nest(33))).code, "nesting_too_deep");
  assert.equal(outcome(() => pm.canonicalize(nest(3), { maxDepth: 3 })).code, "ok");
  assert.equal(outcome(() => pm.canonicalize(nest(4), { maxDepth: 3 })).code, "nesting_too_deep");
  assert.equal(outcome(() => pm.canonicalize(1, { maxDepth: 0 })).code, "ok");
  assert.equal(outcome(() => pm.canonicalize(nest(100_000))).code, "nesting_too_deep");
  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  assert.equal(outcome(() => pm.canonicalize(cyclic)).code, "nesting_too_deep");
  // A proof's context gets one level less than the proof (as Python's sign).
  const draft = (context) =>
    outcome(() => pm.signingPayload({ context, audience: AUDIENCE, timestamp: 0, nonce: pm.randomNonce() }));
  assert.equal(draft({ a: nest(30) }).code, "ok");
  assert.equal(draft({ a: nest(31) }).code, "nesting_too_deep");
  assert.equal(draft({ a: "x".repeat(65_520) }).code, "input_too_large");
  assert.equal(draft([1]).code, "invalid_type");
  assert.equal(draft("x").code, "invalid_type");
});

test("requestProof signs with WebCrypto; the proof verifies; tampering is rejected", async () => {
  const pair = await keyPair();
  const raw = await rawKey(pair);
  const proof = await pm.requestProof({ context: WIRE, signer: pair, audience: AUDIENCE });
  assert.deepEqual(Object.keys(proof).sort(), [
    "algorithm", "audience", "context", "nonce", "publicKey", "signature", "timestamp", "version",
  ]);
  assert.equal(Buffer.from(proof.nonce, "base64url").length, 32);
  assert.ok(Math.abs(proof.timestamp - Date.now()) < 60_000);
  const ok = pm.verifyProof(proof, { trustedKeys: [raw], audience: AUDIENCE });
  assert.equal(ok.valid, true, ok.detail);
  assert.equal(ok.code, null);
  assert.equal(ok.subject, "alice");
  assert.equal(ok.keyId, pm.keyId(raw));
  assert.equal(ok.expiresAt, proof.timestamp + 300_000);
  assert.deepEqual(ok.context, WIRE);
  assert.equal(hex(ok.contextDigest), hex(pm.contextDigest(WIRE)));
  // Verifies as JSON text and as bytes too, and with the base64 key form.
  const text = JSON.stringify(proof);
  assert.equal(pm.verifyProof(text, { trustedKeys: proof.publicKey, audience: AUDIENCE }).valid, true);
  assert.equal(pm.verifyProof(new TextEncoder().encode(text), { trustedKeys: raw, audience: AUDIENCE }).valid, true);

  const verdict = (p, o = {}) => pm.verifyProof(p, { trustedKeys: [raw], audience: AUDIENCE, ...o }).code;
  assert.equal(verdict({ ...proof, context: { ...WIRE, amount: "50001.00" } }), "bad_signature");
  assert.equal(verdict({ ...proof, context: { ...WIRE, extra: true } }), "bad_signature");
  assert.equal(verdict(proof, { audience: "other-api" }), "audience_mismatch");
  assert.equal(verdict(proof, { now: proof.timestamp + 300_001 }), "proof_expired");
  assert.equal(verdict(proof, { now: proof.timestamp - 30_001 }), "timestamp_in_future");
  assert.equal(verdict({ ...proof, extra: 1 }), "unknown_field");
  assert.equal(verdict({ ...proof, context: { ...WIRE, amount: NaN } }), "non_finite_number");
  const other = await rawKey(await keyPair());
  assert.equal(pm.verifyProof(proof, { trustedKeys: [other], audience: AUDIENCE }).code, "untrusted_key");
  // An invalid verdict hands out nothing but the reason.
  const bad = pm.verifyProof({ ...proof, context: { ...WIRE, amount: "1" } }, { trustedKeys: raw, audience: AUDIENCE });
  assert.equal(bad.context, null);
  assert.equal(bad.subject, null);
});

test("per-subject trust (resolver)", async () => {
  const pair = await keyPair();
  const raw = await rawKey(pair);
  const proof = await pm.requestProof({ context: WIRE, signer: pair, audience: AUDIENCE });
  const seen = [];
  const resolver = (subject) => {
    seen.push(subject);
    return subject === "alice" ? [raw] : [];
  };
  assert.equal(pm.verifyProof(proof, { resolver, audience: AUDIENCE }).valid, true);
  assert.deepEqual(seen, ["alice"]);
  const anonymous = await pm.requestProof({ context: { action: "x" }, signer: pair, audience: AUDIENCE });
  assert.equal(pm.verifyProof(anonymous, { resolver, audience: AUDIENCE }).code, "missing_subject");
  const bob = await pm.requestProof({ context: { ...WIRE, subject: "bob" }, signer: pair, audience: AUDIENCE });
  assert.equal(pm.verifyProof(bob, { resolver, audience: AUDIENCE }).code, "untrusted_key");
  assert.equal(outcome(() => pm.verifyProof(proof, { resolver, trustedKeys: [raw], audience: AUDIENCE })).code, "invalid_type");
  assert.equal(outcome(() => pm.verifyProof(proof, { audience: AUDIENCE })).code, "invalid_type");
});

test("the context is snapshotted before signing: later mutation is not signed", async () => {
  const pair = await keyPair();
  const raw = await rawKey(pair);
  const context = { ...WIRE };
  const pending = pm.requestProof({ context, signer: pair, audience: AUDIENCE });
  context.amount = "99999.00"; // changes after the call started, while WebCrypto signs
  context.to = "MALLORY";
  const proof = await pending;
  assert.equal(proof.context.amount, "50000.00");
  assert.equal(proof.context.to, "ACME-CORP-ACCOUNT-123");
  assert.equal(pm.verifyProof(proof, { trustedKeys: raw, audience: AUDIENCE }).valid, true);
  // What the app shows must be what was signed: the fingerprint matches the snapshot.
  assert.equal(pm.fingerprint(proof.context), pm.fingerprint(WIRE));
});

test("server challenge nonce and explicit timestamp", async () => {
  const pair = await keyPair();
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
  const proof = await pm.requestProof({ context: WIRE, signer: pair, audience: AUDIENCE, nonce, timestamp: 1_764_331_200_000 });
  assert.equal(proof.nonce, nonce);
  assert.equal(proof.timestamp, 1_764_331_200_000);
  const bad = (o) => pm.requestProof({ context: WIRE, signer: pair, audience: AUDIENCE, ...o }).then(() => "ok", (e) => e.code);
  assert.equal(await bad({ nonce: "AAAA" }), "invalid_field"); // 3 bytes: too short
  assert.equal(await bad({ nonce: "AAAA=" }), "invalid_base64");
  assert.equal(await bad({ timestamp: -1 }), "invalid_field");
  assert.equal(await bad({ timestamp: 2 ** 53 }), "invalid_field");
  assert.equal(await bad({ audience: "" }), "invalid_field");
  assert.equal(await bad({ audience: 5 }), "invalid_type");
  assert.equal(await bad({ context: [1] }), "invalid_type");
  assert.equal(await bad({ signer: undefined }), "invalid_type");
});

test("assembleProof checks the signature against the key", async () => {
  const pair = await keyPair();
  const raw = await rawKey(pair);
  const draft = pm.signingPayload({ context: WIRE, audience: AUDIENCE, timestamp: 1, nonce: pm.randomNonce() });
  const signature = new Uint8Array(await crypto.subtle.sign("Ed25519", pair.privateKey, draft.digest));
  assert.equal(pm.assembleProof(draft, signature, raw).version, 1);
  const wrong = signature.slice();
  wrong[5] ^= 0x40;
  assert.equal(outcome(() => pm.assembleProof(draft, wrong, raw)).code, "bad_signature");
  assert.equal(outcome(() => pm.assembleProof(draft, signature.slice(1), raw)).code, "invalid_field");
  assert.equal(outcome(() => pm.assembleProof(draft, signature, raw.slice(1))).code, "invalid_public_key");
  assert.equal(outcome(() => pm.assembleProof(draft, signature, new Uint8Array(32))).code, "weak_public_key");
  // The signed digest is SHA-256 of the payload, which ends with the context digest.
  const sha = new Uint8Array(await crypto.subtle.digest("SHA-256", draft.payload));
  assert.equal(hex(sha), hex(draft.digest));
  assert.equal(hex(draft.payload.slice(-32)), hex(draft.contextDigest));
});

test("verification options are validated", async () => {
  const { proof_json: proof } = vectors("proof_v1.json").cases[0];
  const base = { trustedKeys: [], audience: AUDIENCE };
  assert.equal(outcome(() => pm.verifyProof(proof, { ...base, trustedKeys: [new Uint8Array(31)] })).code, "invalid_public_key");
  assert.equal(outcome(() => pm.verifyProof(proof, { ...base, trustedKeys: ["not base64!"] })).code, "invalid_base64");
  assert.equal(outcome(() => pm.verifyProof(proof, { ...base, audience: undefined })).code, "invalid_type");
  assert.equal(outcome(() => pm.verifyProof(proof, { ...base, now: -1 })).code, "invalid_type");
  assert.equal(outcome(() => pm.verifyProof(proof, { ...base, maxAgeMs: 1.5 })).code, "invalid_type");
  assert.equal(pm.verifyProof(proof, { ...base, maxBytes: 10 }).code, "input_too_large");
  assert.equal(pm.verifyProof("{\"a\":\"\ud800\"}", base).code, "lone_surrogate");
  assert.equal(pm.verifyProof(new Uint8Array([0xff]), base).code, "invalid_utf8");
});

test("init: idempotent, accepts bytes and modules; ERROR_CODES match the WASM build", async () => {
  await pm.init();
  await pm.init(new URL("../dist/proof_messenger_wasm_bg.wasm", import.meta.url));
  pm.initSync(readFileSync(new URL("../dist/proof_messenger_wasm_bg.wasm", import.meta.url)));
  // errorCodes() comes from the Rust core's ErrorCode::ALL.
  const bg = await import("../dist/proof_messenger_wasm_bg.js");
  assert.deepEqual(bg.errorCodes().split(","), [...pm.ERROR_CODES]);
  assert.ok(Object.isFrozen(pm.ERROR_CODES));
  // index.d.ts declares the same union.
  const dts = readFileSync(new URL("../index.d.ts", import.meta.url), "utf8");
  const union = dts.slice(dts.indexOf("export type ErrorCode ="), dts.indexOf(";", dts.indexOf("export type ErrorCode =")));
  assert.deepEqual([...union.matchAll(/"([a-z0-9_]+)"/g)].map((m) => m[1]), [...pm.ERROR_CODES]);
});

test("using the module before init() fails clearly", async () => {
  // A second copy of index.js (another URL) has no instance of its own yet.
  const fresh = await import(`../index.js?fresh=${Date.now()}`);
  assert.throws(() => fresh.canonicalize({ a: 1 }), /call `await init\(\)`/);
});

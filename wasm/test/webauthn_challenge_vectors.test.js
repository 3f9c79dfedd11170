// webauthn_challenge_vectors.json, checked against an independent computation.
//
// The file holds, for every signed case of tests/vectors/proof_v1.json (by
// name), the WebAuthn challenge of that case's envelope (docs/PROTOCOL.md
// section 10.3): base64url, unpadded, of the section 4 signed digest with
// algorithm "WebAuthn" instead of "Ed25519". vectors.test.js compares the
// package's challenges with the file; this test recomputes every entry from
// the protocol text alone, with node:crypto and the independent RFC 8785
// implementation `canonicalize` (a devDependency), and never imports the
// package under test. The byte layout is that of tests/protocol_reference.py
// (`payload`), with the algorithm as a parameter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import canonicalize from "canonicalize";

import { vectors } from "./helpers.js";

const DST = Buffer.from("proof-messenger/v1/signing-payload\0", "latin1"); // 35 bytes, trailing NUL

const sha256 = (bytes) => createHash("sha256").update(bytes).digest();

function u16be(n) {
  assert.ok(Number.isInteger(n) && n >= 0 && n <= 0xffff, `length ${n} does not fit u16`);
  const out = Buffer.alloc(2);
  out.writeUInt16BE(n);
  return out;
}

function u64be(n) {
  assert.ok(Number.isSafeInteger(n) && n >= 0, `timestamp ${n}`);
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(n));
  return out;
}

/** field(x) = u16be(len(x)) || x */
const field = (bytes) => Buffer.concat([u16be(bytes.length), bytes]);

/** Strict unpadded base64url (RFC 4648 section 5), as the nonce is spelled. */
function b64urlDecode(text) {
  assert.match(text, /^[A-Za-z0-9_-]*$/, `not base64url: ${text}`);
  const bytes = Buffer.from(text, "base64url");
  assert.equal(bytes.toString("base64url"), text, `not canonical base64url: ${text}`);
  return bytes;
}

/** PROTOCOL section 4: the signing payload of an envelope under `algorithm`. */
function payload(algorithm, audience, timestampMs, nonce, contextDigest) {
  return Buffer.concat([
    DST,
    field(Buffer.from(algorithm, "ascii")),
    field(Buffer.from(audience, "utf8")),
    u64be(timestampMs),
    field(nonce),
    contextDigest,
  ]);
}

/** PROTOCOL section 10.3: base64url(SHA-256(payload with algorithm "WebAuthn")). */
function webauthnChallenge(audience, timestampMs, nonce, contextDigest) {
  return sha256(payload("WebAuthn", audience, timestampMs, nonce, contextDigest)).toString("base64url");
}

const FILE = JSON.parse(readFileSync(new URL("./webauthn_challenge_vectors.json", import.meta.url), "utf8"));

test("the layout of this test reproduces the Ed25519 vectors of proof_v1.json", () => {
  // Anchors the independent code: with algorithm "Ed25519" it must give the
  // payload and signed digest that the Python oracle checked.
  assert.equal(DST.length, 35);
  const { cases } = vectors("proof_v1.json");
  assert.ok(cases.length >= 5);
  for (const c of cases) {
    const canonical = canonicalize(JSON.parse(c.context_json));
    assert.equal(canonical, c.canonical_context, c.name);
    assert.equal(Buffer.from(canonical, "utf8").toString("hex"), c.canonical_context_hex, c.name);
    const contextDigest = sha256(Buffer.from(canonical, "utf8"));
    assert.equal(contextDigest.toString("hex"), c.context_digest_hex, c.name);
    const ed25519 = payload("Ed25519", c.audience, c.timestamp_ms, b64urlDecode(c.nonce), contextDigest);
    assert.equal(ed25519.toString("hex"), c.payload_hex, c.name);
    assert.equal(sha256(ed25519).toString("hex"), c.signed_digest_hex, c.name);
  }
});

test("webauthn_challenge_vectors.json: every challenge equals the independent computation", () => {
  const { cases } = vectors("proof_v1.json");
  const byName = new Map(cases.map((c) => [c.name, c]));
  assert.equal(byName.size, cases.length, "case names in proof_v1.json are unique");
  const entries = FILE.cases;
  assert.ok(Array.isArray(entries));
  // One entry per signed case, no more, no fewer, no duplicates.
  assert.deepEqual(entries.map((e) => e.name).sort(), [...byName.keys()].sort());
  let checked = 0;
  for (const entry of entries) {
    const c = byName.get(entry.name);
    assert.deepEqual(Object.keys(entry).sort(), ["name", "webauthn_challenge"], entry.name);
    const contextDigest = sha256(Buffer.from(canonicalize(JSON.parse(c.context_json)), "utf8"));
    const expected = webauthnChallenge(c.audience, c.timestamp_ms, b64urlDecode(c.nonce), contextDigest);
    assert.equal(expected.length, 43, entry.name);
    assert.equal(entry.webauthn_challenge, expected, entry.name);
    // The algorithm is signed: the WebAuthn challenge is not the Ed25519 digest.
    assert.notEqual(entry.webauthn_challenge, Buffer.from(c.signed_digest_hex, "hex").toString("base64url"), entry.name);
    checked++;
  }
  assert.equal(checked, cases.length);
  assert.equal(checked, entries.length);
});

test("the independent computation is sensitive to every envelope member", () => {
  // A challenge computed from a different algorithm, audience, timestamp,
  // nonce or context never matches, so the comparison above cannot pass by
  // accident.
  const { cases } = vectors("proof_v1.json");
  const c = cases[0];
  const nonce = b64urlDecode(c.nonce);
  const digest = sha256(Buffer.from(c.canonical_context, "utf8"));
  const base = webauthnChallenge(c.audience, c.timestamp_ms, nonce, digest);
  const flipped = Buffer.from(digest);
  flipped[31] ^= 1;
  const variants = [
    sha256(payload("Ed25519", c.audience, c.timestamp_ms, nonce, digest)).toString("base64url"),
    webauthnChallenge(`${c.audience}x`, c.timestamp_ms, nonce, digest),
    webauthnChallenge(c.audience, c.timestamp_ms + 1, nonce, digest),
    webauthnChallenge(c.audience, c.timestamp_ms, Buffer.concat([nonce, Buffer.from([0])]), digest),
    webauthnChallenge(c.audience, c.timestamp_ms, nonce, flipped),
  ];
  for (const v of variants) assert.notEqual(v, base);
  assert.equal(new Set(variants).size, variants.length);
});

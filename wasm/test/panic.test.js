// A Rust panic aborts the WASM instance (wasm32 has no unwinding): the glue
// must catch the trap, re-instantiate the module and stay usable.
//
// Runs against the test-only build of wasm/build.sh --debug-panic, which adds
// one export that panics. The glue files are copied next to that build so
// that exactly the shipped index.js is exercised.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

import * as shipped from "../index.js";
import { ROOT, hex, outcome, vectors } from "./helpers.js";

const DEBUG_BUILD = path.join(ROOT, "wasm", "dist-debug-panic");
let pm;

before(async () => {
  if (!existsSync(path.join(DEBUG_BUILD, "proof_messenger_wasm_bg.wasm"))) {
    throw new Error(`missing ${DEBUG_BUILD}: run wasm/build.sh --debug-panic (wasm/test.sh does)`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), "pm-panic-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  for (const file of ["index.js", "convert.js", "errors.js"]) {
    cpSync(path.join(ROOT, "wasm", file), path.join(dir, file));
  }
  cpSync(DEBUG_BUILD, path.join(dir, "dist"), { recursive: true });
  pm = await import(pathToFileURL(path.join(dir, "index.js")).href);
  await pm.init();
  await shipped.init();
});

test("a panic surfaces as WebAssembly.RuntimeError and the next call works", () => {
  const { cases } = vectors("proof_v1.json");
  const c = cases[0];
  const context = JSON.parse(c.context_json);
  assert.equal(hex(pm.contextDigest(context)), c.context_digest_hex);
  for (let i = 0; i < 50; i++) {
    assert.throws(() => pm.__debugPanic(`round ${i}`), (e) => e instanceof WebAssembly.RuntimeError);
    // Every export still gives the exact vector results after the reset.
    assert.equal(pm.canonicalize(context), c.canonical_context);
    assert.equal(hex(pm.contextDigest(context)), c.context_digest_hex);
    const draft = pm.signingPayload({ context, audience: c.audience, timestamp: c.timestamp_ms, nonce: c.nonce });
    assert.equal(hex(draft.payload), c.payload_hex);
    const err = outcome(() => pm.canonicalizeJson('{"a":1,"a":2}'));
    assert.equal(err.code, "duplicate_key");
  }
});

test("a panic after heavy use leaves no corrupted state behind", () => {
  const big = { items: Array.from({ length: 2000 }, (_, i) => ({ i, s: "é😀".repeat(i % 7) })) };
  const before = pm.canonicalize(big);
  assert.throws(() => pm.__debugPanic("after heavy use"), WebAssembly.RuntimeError);
  assert.equal(pm.canonicalize(big), before);
  assert.equal(pm.fingerprint(big), shipped.fingerprint(big));
});

test("the shipped build has no panic export", () => {
  assert.throws(() => shipped.__debugPanic(), /only in debug-panic test builds/);
});

// Driver of the cross-implementation test (tests/test_wasm_cross.py): the
// Python side generates values, this side computes with the WASM package, the
// Python side compares byte for byte.
//
//   node wasm/tools/cross.mjs canonical < values.jsonl   # one result per line
//   node wasm/tools/cross.mjs proofs    < contexts.jsonl # one WebCrypto-signed proof per line
//   node wasm/tools/cross.mjs codes                      # ERROR_CODES as JSON
//
// Input lines are JSON; strings equal to one of SPECIALS stand for the JS
// numbers JSON cannot spell.
import { createInterface } from "node:readline";

import * as pm from "../index.js";

const SPECIALS = { "\u0000NaN\u0000": NaN, "\u0000Infinity\u0000": Infinity, "\u0000-Infinity\u0000": -Infinity };
const revive = (_key, value) => (typeof value === "string" && value in SPECIALS ? SPECIALS[value] : value);
const hex = (bytes) => Buffer.from(bytes).toString("hex");

async function* lines() {
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (line.length > 0) yield JSON.parse(line, revive);
  }
}

function attempt(fn) {
  try {
    return fn();
  } catch (e) {
    if (e instanceof pm.ProofMessengerError) return { code: e.code };
    throw e;
  }
}

async function main(mode) {
  await pm.init();
  const out = [];
  if (mode === "codes") {
    out.push(JSON.stringify(pm.ERROR_CODES));
  } else if (mode === "canonical") {
    for await (const value of lines()) {
      out.push(JSON.stringify(attempt(() => {
        const canonical = pm.canonicalize(value);
        return {
          canonical_hex: hex(new TextEncoder().encode(canonical)),
          digest_hex: hex(pm.contextDigest(value)),
          fingerprint: pm.fingerprint(value),
        };
      })));
    }
  } else if (mode === "proofs") {
    for await (const { context, audience } of lines()) {
      const signer = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
      const raw = new Uint8Array(await crypto.subtle.exportKey("raw", signer.publicKey));
      const proof = await pm.requestProof({ context, signer, audience });
      out.push(JSON.stringify({ proof: JSON.stringify(proof), public_key_hex: hex(raw) }));
    }
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write(out.join("\n") + "\n");
}

await main(process.argv[2]);

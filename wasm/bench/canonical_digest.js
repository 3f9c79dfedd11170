// Benchmark (not a test): canonicalise + SHA-256 of a context, in Node.js.
//
//   node wasm/bench/canonical_digest.js [--rounds 31] [--json]
//
// Peers, measured in the same process and interleaved round by round (short
// batches, many rounds); each ratio is the median of the per-round ratios, so
// a noisy shared machine slows both sides of a ratio alike:
//   ours:            contextDigest(ctx)           (JS value check + RFC 8785 + SHA-256 in WASM)
//   canon+noble:     sha256(utf8(canonicalize(ctx)))   npm canonicalize + @noble/hashes
//   canon+subtle:    await crypto.subtle.digest("SHA-256", utf8(canonicalize(ctx)))
// Also reports the .wasm size, raw and gzipped (level 9).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { performance } from "node:perf_hooks";

import canonicalize from "canonicalize";
import { sha256 } from "@noble/hashes/sha2.js";

import * as pm from "../index.js";

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1]) || 101;
const JSON_OUT = args.includes("--json");

const WIRE = {
  action: "wire_transfer",
  amount: "50000.00",
  currency: "EUR",
  from: "DE02120300000000202051",
  to: "DE89370400440532013000",
  subject: "alice",
  reference: "INV-2026-0042",
  execute_at: "2026-11-28",
};

function largeContext() {
  const items = [];
  for (let i = 0; items.length < 20; i++) {
    items.push({
      sku: `SKU-${1000 + i}`,
      description: `Line item ${i}: 10x widget, grade ${"ABC"[i % 3]} — Überweisung ✓`,
      quantity: 10 + i,
      unit_price: `${(19.99 + i).toFixed(2)}`,
      tax: { rate: 0.19, code: "DE-VAT" },
      tags: ["b2b", "eu", i % 2 ? "express" : "standard"],
    });
  }
  return {
    action: "approve_invoice",
    subject: "alice@example.com",
    invoice: { id: "INV-2026-0042", issued: "2026-11-28", currency: "EUR", total: "12345.67" },
    payee: { name: "ACME Corp", iban: "DE89370400440532013000", bic: "COBADEFFXXX" },
    items,
  };
}

const FIXTURES = { "wire (~190 B)": WIRE, "invoice (~4 KB)": largeContext() };
const encoder = new TextEncoder();

const PEERS = {
  ours: (ctx) => pm.contextDigest(ctx),
  "canon+noble": (ctx) => sha256(encoder.encode(canonicalize(ctx))),
  "canon+subtle": (ctx) => crypto.subtle.digest("SHA-256", encoder.encode(canonicalize(ctx))),
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};

// Per-operation time of one batch, in microseconds.
async function batch(fn, ctx, n) {
  const start = performance.now();
  if (fn === PEERS["canon+subtle"]) {
    for (let i = 0; i < n; i++) await fn(ctx);
  } else {
    for (let i = 0; i < n; i++) fn(ctx);
  }
  return ((performance.now() - start) * 1000) / n;
}

async function main() {
  await pm.init();
  const hex = (b) => Buffer.from(b).toString("hex");
  const results = [];
  for (const [name, ctx] of Object.entries(FIXTURES)) {
    // Same bytes from every peer, or the comparison means nothing.
    const ours = hex(PEERS.ours(ctx));
    if (hex(PEERS["canon+noble"](ctx)) !== ours || hex(new Uint8Array(await PEERS["canon+subtle"](ctx))) !== ours) {
      throw new Error(`${name}: peers disagree on the digest`);
    }
    const size = encoder.encode(pm.canonicalize(ctx)).length;
    // Batches of ~5 ms per peer on this fixture.
    const n = Math.max(20, Math.round(5_000 / (await batch(PEERS["canon+noble"], ctx, 200))));
    for (const fn of Object.values(PEERS)) await batch(fn, ctx, n); // warm-up
    const samples = Object.fromEntries(Object.keys(PEERS).map((k) => [k, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [peer, fn] of Object.entries(PEERS)) samples[peer].push(await batch(fn, ctx, n));
    }
    const med = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
    // How many times faster ours is than each peer: median of the paired per-round ratios.
    const speedup = Object.fromEntries(
      Object.keys(PEERS)
        .filter((k) => k !== "ours")
        .map((k) => [k, median(samples[k].map((t, r) => t / samples.ours[r]))]),
    );
    results.push({ fixture: name, canonical_bytes: size, batch: n, median_us: med, speedup });
  }
  const wasm = readFileSync(new URL("../dist/proof_messenger_wasm_bg.wasm", import.meta.url));
  const sizes = { wasm_bytes: wasm.length, wasm_gzip_bytes: gzipSync(wasm, { level: 9 }).length };

  if (JSON_OUT) {
    console.log(JSON.stringify({ node: process.version, rounds: ROUNDS, results, ...sizes }));
    return;
  }
  console.log(`node ${process.version}, ${ROUNDS} interleaved rounds, median per operation`);
  for (const { fixture, canonical_bytes: bytes, median_us: m, speedup } of results) {
    console.log(`\n${fixture}: canonical form ${bytes} bytes`);
    for (const [peer, us] of Object.entries(m)) {
      const ratio = peer === "ours" ? "" : `  ours is ${speedup[peer].toFixed(2)}x as fast`;
      console.log(`  ${peer.padEnd(13)} ${us.toFixed(2).padStart(8)} us${ratio}`);
    }
  }
  console.log(`\n.wasm: ${sizes.wasm_bytes} bytes, ${sizes.wasm_gzip_bytes} bytes gzipped (${(sizes.wasm_gzip_bytes / 1024).toFixed(1)} KiB)`);
}

await main();

// The page a frontend would ship: load the module under a strict CSP with
// SRI, keep the key in WebCrypto (non-extractable, stored in IndexedDB),
// show the frozen context and its fingerprint, sign, and hand the proof on.
import { init, fingerprint, canonicalize, requestProof, verifyProof } from "/pkg/index.js";

const violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  violations.push(`${e.violatedDirective} ${e.blockedURI}`);
});

function idb(mode, action) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("proof-messenger-demo", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("keys", mode);
      const request = action(tx.objectStore("keys"));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
    };
  });
}

async function signingKey() {
  // The private key is created non-extractable: script (ours or injected)
  // can use it but never read it. IndexedDB stores the CryptoKey object itself.
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  await idb("readwrite", (store) => store.put(pair, "device-key"));
  const stored = await idb("readonly", (store) => store.get("device-key"));
  let extractable = true;
  try {
    await crypto.subtle.exportKey("pkcs8", stored.privateKey);
  } catch {
    extractable = false;
  }
  return { pair: stored, extractable };
}

function base64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}

async function main() {
  const integrity = document.querySelector('meta[name="pm-wasm-integrity"]').content;
  await init(fetch("/pkg/dist/proof_messenger_wasm_bg.wasm", { integrity }));

  // Freeze what is displayed, so what is signed is what the user saw.
  const context = Object.freeze({
    action: "wire_transfer",
    amount: "50000.00",
    currency: "EUR",
    to: "ACME-CORP-ACCOUNT-123",
    subject: "alice",
    note: "Überweisung 😀",
  });
  document.getElementById("context").textContent = canonicalize(context);
  const shown = fingerprint(context);
  document.getElementById("fingerprint").textContent = shown;

  const { pair, extractable } = await signingKey();
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const proof = await requestProof({ context, signer: pair, audience: "payments-api" });

  const trusted = { trustedKeys: [publicKey], audience: "payments-api" };
  const changed = { ...proof, context: { ...proof.context, amount: "50001.00" } };
  window.pmResult = {
    proof: JSON.stringify(proof),
    publicKey: base64(publicKey),
    fingerprint: shown,
    privateKeyExtractable: extractable,
    selfCheck: verifyProof(proof, trusted).valid,
    changedContextCode: verifyProof(changed, trusted).code,
    violations,
  };
  document.getElementById("status").textContent = "signed";
  document.body.dataset.status = "done";
}

main().catch((e) => {
  window.pmError = `${e?.name}: ${e?.message}`;
  window.pmViolations = violations;
  document.body.dataset.status = "error";
});

// The demo page: no inline script (strict CSP), the WASM module checked by SRI,
// the private key non-extractable in WebCrypto and kept in IndexedDB.
import { init, fingerprint, canonicalize, requestProof, base64url } from "/demo/pkg/index.js";

const $ = (id) => document.getElementById(id);
const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
const AUDIENCE = meta("pm-audience");
const PROOF_HEADER = "Proof-Messenger-Proof";

function idb(mode, action) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("proof-messenger-relay-demo", 1);
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

async function deviceKey() {
  const stored = await idb("readonly", (s) => s.get("device-key"));
  if (stored) return stored;
  // Non-extractable: scripts can sign with it, nobody can read it.
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  await idb("readwrite", (s) => s.put(pair, "device-key"));
  return pair;
}

async function postJson(url, body, headers = {}) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body });
  const data = await r.json().catch(() => ({}));
  return { status: r.status, data };
}

async function enrolment(pair) {
  const known = await idb("readonly", (s) => s.get("enrolment"));
  if (known) return known;
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const { status, data } = await postJson("/demo/api/enroll", JSON.stringify({ publicKey: btoa(String.fromCharCode(...raw)) }));
  if (status !== 201) throw new Error(`enrolment failed: ${status} ${JSON.stringify(data)}`);
  await idb("readwrite", (s) => s.put(data, "enrolment"));
  return data;
}

let state = { pair: null, subject: null, context: null, passkey: null };

const fromB64url = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

// A passkey for a fresh demo subject: the relay's WebAuthn registration ceremony.
async function passkeyEnrolment() {
  const known = await idb("readonly", (s) => s.get("passkey"));
  if (known) return known;
  const ch = await postJson("/demo/api/webauthn/challenge", "{}");
  if (ch.status !== 201) throw new Error(`passkey challenge failed: ${ch.status} ${JSON.stringify(ch.data)}`);
  const pk = structuredClone(ch.data.publicKey);
  pk.challenge = fromB64url(pk.challenge);
  pk.user.id = fromB64url(pk.user.id);
  pk.excludeCredentials = pk.excludeCredentials.map((c) => ({ ...c, id: fromB64url(c.id) }));
  const cred = await navigator.credentials.create({ publicKey: pk });
  const transports = cred.response.getTransports ? cred.response.getTransports() : [];
  const reg = await postJson("/demo/api/webauthn/register", JSON.stringify({
    challenge: ch.data.challenge,
    attestationObject: base64url(cred.response.attestationObject),
    clientDataJSON: base64url(cred.response.clientDataJSON),
    transports,
  }));
  if (reg.status !== 201) throw new Error(`passkey registration failed: ${reg.status} ${JSON.stringify(reg.data)}`);
  const enrolled = { subject: reg.data.subject, keyId: reg.data.keyId, credential: { id: reg.data.credentialId, transports } };
  await idb("readwrite", (s) => s.put(enrolled, "passkey"));
  return enrolled;
}

async function usePasskey() {
  state.passkey = await passkeyEnrolment();
  state.subject = state.passkey.subject;
  $("key-status").textContent = "a passkey (WebAuthn): the authenticator signs after user verification";
  $("subject").textContent = state.passkey.subject;
  $("key-id").textContent = state.passkey.keyId;
  $("review-card").hidden = true;
  document.body.dataset.status = "ready";
}

function showError(e) {
  $("error").textContent = String(e && e.message ? e.message : e);
  document.body.dataset.status = "error";
}

async function review(event) {
  event.preventDefault();
  // Freeze what is displayed: what is signed is exactly what the user saw.
  state.context = Object.freeze({
    action: "wire_transfer",
    amount: $("amount").value.trim(),
    currency: "EUR",
    to: $("to").value.trim(),
    subject: state.subject,
  });
  $("context").textContent = canonicalize(state.context);
  $("fingerprint").textContent = fingerprint(state.context);
  $("review-card").hidden = false;
  $("result-card").hidden = true;
  document.body.dataset.status = "review";
}

async function approve() {
  document.body.dataset.status = "sending";
  const context = state.context;
  // The recommended flow: the backend asks the relay for a challenge bound to this subject.
  const ch = await postJson("/demo/api/challenge", JSON.stringify({ subject: state.subject }));
  if (ch.status !== 201) throw new Error(`challenge failed: ${ch.status} ${JSON.stringify(ch.data)}`);
  const proof = state.passkey
    ? await requestProof({ context, credential: state.passkey.credential, audience: AUDIENCE, nonce: ch.data.nonce })
    : await requestProof({ context, signer: state.pair, audience: AUDIENCE, nonce: ch.data.nonce });
  const headers = { [PROOF_HEADER]: base64url(new TextEncoder().encode(JSON.stringify(proof))) };
  if ($("compromised").checked) headers["X-Demo-Compromised-Proxy"] = "1";
  const { data } = await postJson("/demo/api/transfer", JSON.stringify(context), headers);
  const backend = data.backend || {};
  const body = backend.body || {};
  const ok = backend.status === 200;
  const code = ok ? null : (body.detail && body.detail.code) || "error";
  $("verdict").textContent = ok
    ? `Executed: ${body.transfer.amount} ${body.transfer.currency} to ${body.transfer.to}`
    : `Rejected by the relay: ${code} (${(body.detail && body.detail.detail) || ""})`;
  $("verdict").className = ok ? "ok" : "bad";
  $("sent-amount").textContent = data.proxy.sentAmount;
  $("forwarded-amount").textContent = data.proxy.forwardedAmount;
  $("code").textContent = code || "—";
  $("receipt").textContent = body.receiptId || "—";
  $("raw").textContent = JSON.stringify(data, null, 2);
  $("result-card").hidden = false;
  window.pmLastResult = { ok, code, receiptId: body.receiptId || null, data };
  document.body.dataset.status = ok ? "accepted" : "rejected";
}

async function main() {
  if (meta("pm-wasm-ready") !== "yes") throw new Error("The WASM package is not built: run wasm/build.sh, restart the relay.");
  await init(fetch("/demo/pkg/dist/proof_messenger_wasm_bg.wasm", { integrity: meta("pm-wasm-integrity") }));
  state.pair = await deviceKey();
  const enrolled = await enrolment(state.pair);
  state.subject = enrolled.subject;
  $("key-status").textContent = "Ed25519, non-extractable, stored in this browser";
  $("subject").textContent = enrolled.subject;
  $("key-id").textContent = enrolled.keyId;
  $("transfer-form").addEventListener("submit", (e) => review(e).catch(showError));
  $("approve").addEventListener("click", () => approve().catch(showError));
  $("use-passkey").addEventListener("click", () => usePasskey().catch(showError));
  document.body.dataset.status = "ready";
}

main().catch(showError);

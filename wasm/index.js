// proof-messenger for browsers and Node.js >= 20: the Rust core compiled to
// WebAssembly (rust/wasm), byte-identical with the Python package.
//
// This file owns the WebAssembly instance. It loads the .wasm (fetch in
// browsers, the file system in Node.js, or bytes / a module you pass), wraps
// every export so that a trap (a Rust panic aborts on wasm32) re-instantiates
// the module before the error reaches you, and does what must stay outside
// WASM: private keys live in WebCrypto and never enter WASM memory; only the
// 32-byte signed digest goes out to `crypto.subtle.sign` and the signature
// comes back.

import * as bg from "./dist/proof_messenger_wasm_bg.js";
import { ERROR_CODES, ProofMessengerError } from "./errors.js";
import { DEFAULT_MAX_DEPTH, toJsonBytes, toJsonText, wellFormed } from "./convert.js";

export { ERROR_CODES, ProofMessengerError };

/** Verification defaults, the same as the Python package's. */
export const DEFAULTS = Object.freeze({
  maxAgeMs: 300_000,
  maxSkewMs: 30_000,
  maxBytes: 65_536,
  maxDepth: DEFAULT_MAX_DEPTH,
});

const WASM_URL = new URL("./dist/proof_messenger_wasm_bg.wasm", import.meta.url);

let compiled = null; // WebAssembly.Module, kept to re-instantiate after a trap
let imports = null;
let live = null; // the exports of the live instance
let initializing = null;

// ---------------------------------------------------------------- loading --

async function loadModule(input) {
  if (input instanceof WebAssembly.Module) return input;
  if (input instanceof ArrayBuffer || ArrayBuffer.isView(input)) return WebAssembly.compile(input);
  let source = await input;
  if (source === undefined) source = WASM_URL;
  if (typeof source === "string") source = new URL(source, import.meta.url);
  if (source instanceof URL && source.protocol === "file:") {
    // Only reached in Node.js; the comments keep bundlers from resolving it for browsers.
    const { readFile } = await import(/* webpackIgnore: true */ /* @vite-ignore */ "node:fs/promises");
    return WebAssembly.compile(await readFile(source));
  }
  const response = source instanceof Response ? source : await fetch(source);
  if (!response.ok) throw new Error(`proof-messenger: cannot load ${response.url}: HTTP ${response.status}`);
  if (typeof WebAssembly.compileStreaming === "function"
      && response.headers.get("Content-Type")?.split(";")[0].trim() === "application/wasm") {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

function importObject(module) {
  // wasm-bindgen (--target bundler) names its JS shim module as the import
  // namespace; all imports are functions of dist/proof_messenger_wasm_bg.js.
  const object = {};
  for (const { module: name } of WebAssembly.Module.imports(module)) object[name] = bg;
  return object;
}

function activate(instance) {
  if (live !== null) {
    // Growing the old memory by 0 pages detaches its ArrayBuffer, which makes
    // the glue drop its cached views of it.
    try {
      live.memory.grow(0);
    } catch {
      // the old memory is being dropped anyway
    }
  }
  bg.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start?.();
  live = instance.exports;
}

/**
 * Loads and instantiates the WebAssembly module. Call once before anything
 * else; later calls return the same promise.
 *
 * @param {URL|string|Response|Promise<Response>|BufferSource|WebAssembly.Module} [input]
 *   where the .wasm is; default: `dist/proof_messenger_wasm_bg.wasm` next to
 *   this file (fetched in browsers, read from disk in Node.js)
 */
export function init(input) {
  if (initializing === null) {
    initializing = (async () => {
      const module = await loadModule(input);
      const object = importObject(module);
      const instance = await WebAssembly.instantiate(module, object);
      compiled = module;
      imports = object;
      activate(instance);
    })();
    initializing.catch(() => {
      initializing = null; // let the caller retry, e.g. after a network error
    });
  }
  return initializing;
}

/** Synchronous init from the .wasm bytes or a compiled module (Node.js, workers). */
export function initSync(input) {
  if (live !== null) return;
  const module = input instanceof WebAssembly.Module ? input : new WebAssembly.Module(input);
  const object = importObject(module);
  compiled = module;
  imports = object;
  activate(new WebAssembly.Instance(module, object));
  initializing = Promise.resolve();
}

function ready() {
  if (live === null) throw new Error("proof-messenger: call `await init()` before using the module");
}

// A trap (a Rust panic aborts with `unreachable`; an out-of-bounds access)
// leaves the instance in an unknown state: its shadow stack and allocator may
// be mid-operation. Every export is stateless, so a fresh instance of the
// same module is a complete recovery.
function recover(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    activate(new WebAssembly.Instance(compiled, imports));
  }
  return error;
}

// -------------------------------------------------------- canonical JSON --

function depthOption(options) {
  const depth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isSafeInteger(depth) || depth < 0) {
    throw new ProofMessengerError("invalid_type", "maxDepth must be a non-negative integer");
  }
  return depth;
}

/**
 * RFC 8785 canonical JSON of a JSON value (usually a context object).
 * @param {unknown} value
 * @param {{maxDepth?: number}} [options]
 * @returns {string}
 */
export function canonicalize(value, options) {
  return withJsonText(bg.canonicalize, value, options);
}

/** Checks a JS value, converts it to JSON text and hands it to a core export. */
function withJsonText(exported, value, options) {
  const depth = depthOption(options);
  const text = toJsonText(value, depth);
  ready();
  try {
    return exported(text, depth);
  } catch (e) {
    throw recover(e);
  }
}

/**
 * SHA-256 of the canonical JSON of a value: the context digest.
 * @returns {Uint8Array} 32 bytes
 */
export function contextDigest(value, options) {
  return withJsonText(bg.contextDigest, value, options);
}

/**
 * The human-comparable fingerprint of a value, e.g. "7KQ2-M9XD-4HCT-PW3B".
 * Show it next to the context the user approves.
 */
export function fingerprint(value, options) {
  return withJsonText(bg.fingerprint, value, options);
}

/**
 * RFC 8785 canonical form of JSON text, parsed strictly (duplicate names,
 * inexact numbers, lone surrogate escapes are errors), like the Python
 * package's `canonicalize_json`.
 * @param {string|Uint8Array|ArrayBuffer} json
 * @param {{maxBytes?: number, maxDepth?: number}} [options]
 * @returns {string}
 */
export function canonicalizeJson(json, options) {
  const maxBytes = bytesOption(options);
  const maxDepth = depthOption(options);
  if (typeof json !== "string" && !(json instanceof ArrayBuffer) && !ArrayBuffer.isView(json)) {
    throw new ProofMessengerError("invalid_type", "json must be a string, a Uint8Array or an ArrayBuffer");
  }
  const bytes = toJsonBytes(json, maxDepth);
  ready();
  try {
    return bg.canonicalizeJson(bytes, maxBytes, maxDepth);
  } catch (e) {
    throw recover(e);
  }
}

function bytesOption(options) {
  const bytes = options?.maxBytes ?? DEFAULTS.maxBytes;
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new ProofMessengerError("invalid_type", "maxBytes must be a non-negative integer");
  }
  return bytes;
}

// -------------------------------------------------------------- signing --

function requireString(value, name) {
  if (typeof value !== "string") throw new ProofMessengerError("invalid_type", `${name} must be a string`);
  if (!wellFormed(value)) throw new ProofMessengerError("lone_surrogate", `${name} contains a lone surrogate`);
  return value;
}

function requireNumber(value, name) {
  if (typeof value !== "number") throw new ProofMessengerError("invalid_type", `${name} must be a number (Unix ms)`);
  return value;
}

function toBytes(value, name) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new ProofMessengerError("invalid_type", `${name} must be a Uint8Array or an ArrayBuffer`);
}

/** base64url without padding (the wire form of nonces and WebAuthn challenges). */
export function base64url(bytes) {
  let binary = "";
  for (const b of toBytes(bytes, "bytes")) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** A fresh 256-bit nonce from crypto.getRandomValues, base64url. */
export function randomNonce() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * The exact v1 signing payload (docs/PROTOCOL.md) for a context and its
 * binding members. The context is converted once, here: everything returned
 * (and a proof assembled from it) describes this snapshot, whatever happens
 * to the context object afterwards.
 *
 * `maxBytes` bounds the finished proof's JSON and `maxDepth` its nesting (the
 * context gets one level less), as in the Python package's `sign`.
 *
 * @param {{context: object, audience: string, timestamp: number, nonce: string,
 *   maxBytes?: number, maxDepth?: number}} input
 * @returns {{payload: Uint8Array, digest: Uint8Array, challenge: string,
 *   contextDigest: Uint8Array, fingerprint: string, canonicalContext: string,
 *   audience: string, timestamp: number, nonce: string, maxBytes: number, maxDepth: number}}
 */
export function signingPayload(input = {}) {
  const { context, audience, timestamp, nonce } = input;
  const maxBytes = bytesOption(input);
  const maxDepth = depthOption(input);
  const contextDepth = Math.max(maxDepth - 1, 0);
  if (context === null || typeof context !== "object" || Array.isArray(context)) {
    throw new ProofMessengerError("invalid_type", "context must be an object");
  }
  const text = toJsonText(context, contextDepth);
  requireString(audience, "audience");
  requireNumber(timestamp, "timestamp");
  requireString(nonce, "nonce");
  ready();
  let bytes, canonicalContext, fp, webauthnDigest;
  try {
    bytes = bg.draft(text, audience, timestamp, nonce, maxBytes, maxDepth);
    webauthnDigest = bg.webauthnDigest(text, audience, timestamp, nonce, maxBytes, maxDepth);
    canonicalContext = bg.canonicalize(text, contextDepth);
    fp = bg.fingerprint(text, contextDepth);
  } catch (e) {
    throw recover(e);
  }
  const digest = bytes.slice(0, 32);
  return {
    payload: bytes.slice(64),
    digest,
    webauthnDigest,
    challenge: base64url(webauthnDigest),
    contextDigest: bytes.slice(32, 64),
    fingerprint: fp,
    canonicalContext,
    audience,
    timestamp,
    nonce,
    maxBytes,
    maxDepth,
  };
}

/**
 * The WebAuthn challenge for a proof (docs/PROTOCOL.md section 10.3):
 * base64url of the section 4 signed digest computed with algorithm
 * "WebAuthn" (not the Ed25519 digest). Same input as signingPayload.
 */
export function webauthnChallenge(input) {
  return signingPayload(input).challenge;
}

/**
 * Assembles a proof from a signingPayload() result, the Ed25519 signature of
 * its `digest` and the signer's public key (raw 32 bytes or SPKI). The
 * signature is checked against the key; a mismatch throws `bad_signature`.
 *
 * @returns {object} the proof, a plain JSON object ready for JSON.stringify
 */
export function assembleProof(draft, signature, publicKey) {
  const { canonicalContext, audience, timestamp, nonce } = draft ?? {};
  requireString(canonicalContext, "draft.canonicalContext");
  requireString(audience, "audience");
  requireNumber(timestamp, "timestamp");
  requireString(nonce, "nonce");
  const maxBytes = bytesOption(draft);
  const maxDepth = depthOption(draft);
  const sig = toBytes(signature, "signature");
  const key = toBytes(publicKey, "publicKey");
  ready();
  let json;
  try {
    json = bg.assembleProof(canonicalContext, audience, timestamp, nonce, maxBytes, maxDepth, key, sig);
  } catch (e) {
    throw recover(e);
  }
  return JSON.parse(json);
}

async function rawPublicKey(publicKey) {
  if (typeof CryptoKey !== "undefined" && publicKey instanceof CryptoKey) {
    return new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
  }
  return toBytes(publicKey, "signer.publicKey");
}

function credentialDescriptor(c) {
  if (typeof c === "string") return { type: "public-key", id: fromBase64url(c) };
  if (c instanceof Uint8Array || c instanceof ArrayBuffer || ArrayBuffer.isView(c)) return { type: "public-key", id: toBytes(c, "credential") };
  if (c && typeof c === "object" && c.id !== undefined) {
    const out = { type: "public-key", id: typeof c.id === "string" ? fromBase64url(c.id) : toBytes(c.id, "credential.id") };
    if (Array.isArray(c.transports)) out.transports = c.transports;
    return out;
  }
  throw new ProofMessengerError("invalid_type", "credential must be a credential id (base64url or bytes), {id, transports?} or an array of them");
}

/**
 * Signs a context with a WebAuthn credential (a passkey or security key;
 * docs/PROTOCOL.md section 10): navigator.credentials.get with the proof's
 * WebAuthn challenge, `allowCredentials` and `userVerification: "required"`,
 * then the WebAuthn proof (algorithm "WebAuthn"; no `userHandle` when the
 * authenticator returns none). The context is snapshotted before anything is
 * awaited. The verifier finds the key by `credentialId` in its registry.
 *
 * @param {{context: object, credential: string|Uint8Array|{id: string|Uint8Array, transports?: string[]}|Array<any>,
 *   audience: string, nonce?: string, timestamp?: number, rpId?: string, timeoutMs?: number,
 *   maxBytes?: number, maxDepth?: number}} input
 * @returns {Promise<object>} the proof
 */
export async function requestWebAuthnProof({ context, credential, audience, nonce, timestamp, maxBytes, maxDepth, rpId, timeoutMs } = {}) {
  const draft = signingPayload({
    context,
    audience,
    timestamp: timestamp ?? Date.now(),
    nonce: nonce ?? randomNonce(),
    maxBytes,
    maxDepth,
  });
  const allowCredentials = (Array.isArray(credential) ? credential : [credential]).map(credentialDescriptor);
  if (allowCredentials.length === 0) throw new ProofMessengerError("invalid_type", "credential: at least one credential id is required");
  if (typeof navigator === "undefined" || !navigator.credentials || typeof navigator.credentials.get !== "function") {
    throw new ProofMessengerError("invalid_type", "WebAuthn (navigator.credentials.get) is not available here");
  }
  const publicKey = { challenge: draft.webauthnDigest, allowCredentials, userVerification: "required" };
  if (rpId !== undefined) publicKey.rpId = requireString(rpId, "rpId");
  if (timeoutMs !== undefined) publicKey.timeout = requireNumber(timeoutMs, "timeoutMs");
  const assertion = await navigator.credentials.get({ publicKey });
  if (!assertion || !assertion.response || !assertion.response.authenticatorData) {
    throw new ProofMessengerError("invalid_type", "navigator.credentials.get did not return an assertion");
  }
  const r = assertion.response;
  const proof = {
    version: 1,
    algorithm: "WebAuthn",
    context: JSON.parse(draft.canonicalContext),
    audience: draft.audience,
    timestamp: draft.timestamp,
    nonce: draft.nonce,
    credentialId: base64url(assertion.rawId),
    authenticatorData: base64url(r.authenticatorData),
    clientDataJSON: base64url(r.clientDataJSON),
    signature: base64url(r.signature),
  };
  if (r.userHandle && r.userHandle.byteLength > 0) proof.userHandle = base64url(r.userHandle);
  return proof;
}

/**
 * Signs a context with a WebCrypto Ed25519 key pair and returns the proof.
 *
 * The context is snapshotted (converted to JSON) before anything is awaited,
 * so changes to the object after this call starts are not signed. The private
 * key is used only through `crypto.subtle.sign` and never enters WASM memory.
 *
 * @param {{context: object, signer: CryptoKeyPair | {privateKey: CryptoKey, publicKey: CryptoKey|Uint8Array},
 *   audience: string, nonce?: string, timestamp?: number}} input
 *   nonce: the server's challenge (base64url, 16..64 bytes), or 32 fresh random bytes;
 *   timestamp: Unix ms, default Date.now(); maxBytes / maxDepth: as in signingPayload
 * @returns {Promise<object>} the proof
 */
export async function requestProof({ context, signer, credential, audience, nonce, timestamp, maxBytes, maxDepth, rpId, timeoutMs } = {}) {
  if (credential !== undefined) {
    if (signer !== undefined) throw new ProofMessengerError("invalid_type", "give either signer (Ed25519) or credential (WebAuthn), not both");
    return requestWebAuthnProof({ context, credential, audience, nonce, timestamp, maxBytes, maxDepth, rpId, timeoutMs });
  }
  const draft = signingPayload({
    context,
    audience,
    timestamp: timestamp ?? Date.now(),
    nonce: nonce ?? randomNonce(),
    maxBytes,
    maxDepth,
  });
  if (!signer || typeof signer !== "object" || !signer.privateKey) {
    throw new ProofMessengerError("invalid_type", "signer must be a CryptoKeyPair (Ed25519)");
  }
  const [signature, publicKey] = await Promise.all([
    crypto.subtle.sign("Ed25519", signer.privateKey, draft.digest),
    rawPublicKey(signer.publicKey),
  ]);
  return assembleProof(draft, new Uint8Array(signature), publicKey);
}

// --------------------------------------------------------- verification --

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function keyBytes(key) {
  if (typeof key === "string") {
    if (!BASE64.test(key)) throw new ProofMessengerError("invalid_base64", "trusted key: not padded base64");
    return fromBase64url(key);
  }
  return toBytes(key, "trusted key");
}

function keyList(trustedKeys) {
  const keys = (Array.isArray(trustedKeys) ? trustedKeys : [trustedKeys]).map(keyBytes);
  let size = 0;
  for (const k of keys) size += 1 + k.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const k of keys) {
    if (k.length > 255) throw new ProofMessengerError("invalid_public_key", `a ${k.length}-byte key is neither raw nor SPKI`);
    out[at++] = k.length;
    out.set(k, at);
    at += k.length;
  }
  return out;
}

function option(value, fallback, name) {
  const v = value ?? fallback;
  if (typeof v !== "number") throw new ProofMessengerError("invalid_type", `${name} must be a number`);
  return v;
}

/**
 * Verifies a proof (an object, JSON text or bytes) against trusted keys and a
 * policy. Never throws for a bad proof: the verdict says why (`code`).
 * Throws ProofMessengerError for bad options (e.g. an invalid trusted key:
 * `invalid_public_key` / `weak_public_key`). Nonce uniqueness needs storage
 * and is the relay's job.
 *
 * Trust is either a fixed set (`trustedKeys`) or per subject (`resolver`,
 * called with `context.subject`; a proof without a subject is then
 * `missing_subject`), exactly one of the two.
 *
 * @param {object|string|Uint8Array} proof
 * @param {{trustedKeys?: Uint8Array|string|Array<Uint8Array|string>,
 *   resolver?: (subject: string) => Array<Uint8Array|string>, audience: string,
 *   now?: number, maxAgeMs?: number, maxSkewMs?: number, maxBytes?: number, maxDepth?: number}} options
 *   keys: raw 32 bytes, SPKI DER, or the proof's base64 `publicKey` form
 */
export function verifyProof(proof, options = {}) {
  const { trustedKeys, resolver, audience } = options;
  const fixed = trustedKeys !== undefined && trustedKeys !== null;
  if (fixed === (typeof resolver === "function")) {
    throw new ProofMessengerError("invalid_type", "pass exactly one of trustedKeys and resolver (a function)");
  }
  requireString(audience, "audience");
  let keys = fixed ? keyList(trustedKeys) : null;
  const now = option(options.now, Date.now(), "now");
  const maxAgeMs = option(options.maxAgeMs, DEFAULTS.maxAgeMs, "maxAgeMs");
  const maxSkewMs = option(options.maxSkewMs, DEFAULTS.maxSkewMs, "maxSkewMs");
  const maxBytes = option(options.maxBytes, DEFAULTS.maxBytes, "maxBytes");
  const maxDepth = depthOption(options);
  let bytes;
  try {
    bytes = toJsonBytes(proof, maxDepth);
  } catch (e) {
    if (e instanceof ProofMessengerError) return invalid(e.code, e.detail);
    throw e;
  }
  ready();
  if (!fixed) {
    let found;
    try {
      found = JSON.parse(bg.proofSubject(bytes, maxBytes, maxDepth));
    } catch (e) {
      throw recover(e);
    }
    if (found.code) return invalid(found.code, found.detail);
    if (found.subject === null) return invalid("missing_subject", "per-subject trust needs context.subject");
    keys = keyList(resolver(found.subject) ?? []);
  }
  let json;
  try {
    json = bg.verifyProof(bytes, keys, audience, now, maxAgeMs, maxSkewMs, maxBytes, maxDepth);
  } catch (e) {
    throw recover(e);
  }
  const verdict = JSON.parse(json);
  if (verdict.valid) {
    verdict.contextDigest = fromBase64url(verdict.contextDigest);
    verdict.signedDigest = fromBase64url(verdict.signedDigest);
    return verdict;
  }
  return invalid(verdict.code, verdict.detail);
}

function invalid(code, detail) {
  return {
    valid: false, code, detail, keyId: null, subject: null, audience: null, nonce: null,
    timestamp: null, expiresAt: null, contextDigest: null, signedDigest: null, context: null,
  };
}

/**
 * Strict Ed25519 verification of any message (e.g. a relay receipt).
 * @returns {boolean} false if the signature does not verify
 * @throws {ProofMessengerError} invalid_public_key / weak_public_key / invalid_field (signature length)
 */
export function verifySignature(publicKey, message, signature) {
  const key = keyBytes(publicKey);
  const msg = toBytes(message, "message");
  const sig = toBytes(signature, "signature");
  ready();
  try {
    return bg.verifySignature(key, msg, sig);
  } catch (e) {
    throw recover(e);
  }
}

/** RFC 7638 key id of an Ed25519 public key (raw 32 bytes, SPKI or base64). */
export function keyId(publicKey) {
  const key = keyBytes(publicKey);
  ready();
  try {
    return bg.keyId(key);
  } catch (e) {
    throw recover(e);
  }
}

/**
 * Test builds only (`wasm/build.sh --debug-panic`): panics inside WASM, so the
 * tests can prove that a trap leaves the module usable. Throws in release builds.
 * @internal
 */
export function __debugPanic(message = "test") {
  if (typeof bg.__debugPanic !== "function") {
    throw new Error("proof-messenger: __debugPanic exists only in debug-panic test builds");
  }
  ready();
  try {
    bg.__debugPanic(message);
  } catch (e) {
    throw recover(e);
  }
}

// Type declarations of the proof-messenger package (index.js).

/** Every stable error code, the same as the Rust core's and the Python package's. */
export type ErrorCode =
  | "input_too_large"
  | "nesting_too_deep"
  | "invalid_utf8"
  | "invalid_json"
  | "duplicate_key"
  | "lone_surrogate"
  | "non_finite_number"
  | "inexact_number"
  | "invalid_type"
  | "missing_field"
  | "unknown_field"
  | "invalid_field"
  | "unsupported_version"
  | "unsupported_algorithm"
  | "invalid_base64"
  | "invalid_public_key"
  | "weak_public_key"
  | "untrusted_key"
  | "missing_subject"
  | "audience_mismatch"
  | "proof_expired"
  | "timestamp_in_future"
  | "bad_signature"
  | "nonce_replayed"
  | "invalid_authenticator_data"
  | "invalid_client_data"
  | "invalid_attestation"
  | "attestation_unsupported"
  | "unsupported_cose_algorithm"
  | "invalid_cose_key"
  | "webauthn_type_mismatch"
  | "challenge_mismatch"
  | "origin_not_allowed"
  | "cross_origin_not_allowed"
  | "token_binding_unsupported"
  | "rp_id_mismatch"
  | "user_not_present"
  | "user_not_verified"
  | "counter_not_increasing";

export declare const ERROR_CODES: readonly ErrorCode[];

/** Bad input or a rejected proof; `code` is stable, `detail` says where. */
export declare class ProofMessengerError extends Error {
  constructor(code: ErrorCode, detail: string);
  readonly name: "ProofMessengerError";
  readonly code: ErrorCode;
  readonly detail: string;
}

/** A JSON value as JS holds it: plain objects, arrays, strings, finite numbers, booleans, null. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A context: the business action the user approves, a JSON object. */
export type Context = { [key: string]: JsonValue };

/** A v1 proof (docs/PROTOCOL.md section 2), ready for JSON.stringify. */
export interface Proof {
  version: 1;
  algorithm: "Ed25519";
  context: Context;
  audience: string;
  /** Signing time, Unix milliseconds. */
  timestamp: number;
  /** base64url (no padding) of 16..64 bytes. */
  nonce: string;
  /** base64 of the raw 32-byte Ed25519 public key. */
  publicKey: string;
  /** base64 of the 64-byte signature. */
  signature: string;
}

/** A WebAuthn proof (docs/PROTOCOL.md section 10.2); binary members base64url without padding. */
export interface WebAuthnProof {
  version: 1;
  algorithm: "WebAuthn";
  context: Context;
  audience: string;
  timestamp: number;
  nonce: string;
  credentialId: string;
  authenticatorData: string;
  clientDataJSON: string;
  signature: string;
  /** Absent when the authenticator returned no user handle. */
  userHandle?: string;
}

export declare const DEFAULTS: Readonly<{ maxAgeMs: number; maxSkewMs: number; maxBytes: number; maxDepth: number }>;

export type WasmSource = URL | string | Response | Promise<Response> | BufferSource | WebAssembly.Module;

/** Loads and instantiates the module (once; later calls return the same promise). */
export declare function init(input?: WasmSource): Promise<void>;
/** Synchronous init from the .wasm bytes or a compiled module. */
export declare function initSync(input: BufferSource | WebAssembly.Module): void;

export interface DepthOptions {
  /** Deepest nesting accepted (the outermost container is depth 1). Default 32. */
  maxDepth?: number;
}
export interface LimitOptions extends DepthOptions {
  /** Largest input (or, when signing, the finished proof) in bytes. Default 65536. */
  maxBytes?: number;
}

/** RFC 8785 canonical JSON of a JSON value. */
export declare function canonicalize(value: JsonValue, options?: DepthOptions): string;
/** SHA-256 of the canonical JSON: the context digest (32 bytes). */
export declare function contextDigest(value: JsonValue, options?: DepthOptions): Uint8Array;
/** The human-comparable fingerprint of a value, e.g. "7KQ2-M9XD-4HCT-PW3B". */
export declare function fingerprint(value: JsonValue, options?: DepthOptions): string;
/** RFC 8785 canonical form of JSON text, parsed strictly. */
export declare function canonicalizeJson(json: string | BufferSource, options?: LimitOptions): string;

export interface EnvelopeInput extends LimitOptions {
  context: Context;
  audience: string;
  /** Unix milliseconds. */
  timestamp: number;
  /** base64url (no padding) of 16..64 bytes. */
  nonce: string;
}

/** Everything about one envelope; a snapshot of the context taken when it was made. */
export interface Draft {
  /** The exact v1 signing payload. */
  payload: Uint8Array;
  /** SHA-256 of the payload: the 32 bytes the key signs. */
  digest: Uint8Array;
  /** The section 4 digest with algorithm "WebAuthn": the challenge bytes of navigator.credentials.get. */
  webauthnDigest: Uint8Array;
  /** The WebAuthn challenge (section 10.3): base64url of `webauthnDigest` (not of `digest`). */
  challenge: string;
  contextDigest: Uint8Array;
  fingerprint: string;
  canonicalContext: string;
  audience: string;
  timestamp: number;
  nonce: string;
  maxBytes: number;
  maxDepth: number;
}

export declare function signingPayload(input: EnvelopeInput): Draft;
/** The WebAuthn challenge (section 10.3): base64url of the signed digest with algorithm "WebAuthn". */
export declare function webauthnChallenge(input: EnvelopeInput): string;
/** The proof for a draft, a signature of `draft.digest` and the public key (raw or SPKI); checks the signature. */
export declare function assembleProof(draft: Draft, signature: BufferSource, publicKey: BufferSource): Proof;

export interface Signer {
  privateKey: CryptoKey;
  /** The Ed25519 public key: a CryptoKey, or its raw 32 bytes / SPKI. */
  publicKey: CryptoKey | BufferSource;
}

export interface RequestProofInput extends LimitOptions {
  context: Context;
  /** A WebCrypto Ed25519 key pair; the private key never enters WASM memory. */
  signer: Signer | CryptoKeyPair;
  audience: string;
  /** The server's challenge nonce; default 32 random bytes from crypto.getRandomValues. */
  nonce?: string;
  /** Unix milliseconds; default Date.now(). */
  timestamp?: number;
}

/** A WebAuthn credential to allow: its id (base64url or bytes), or a descriptor with transports. */
export type CredentialInput = string | BufferSource | { id: string | BufferSource; transports?: string[] };

export interface RequestWebAuthnProofInput extends LimitOptions {
  context: Context;
  /** The registered credential(s) that may sign (allowCredentials). */
  credential: CredentialInput | CredentialInput[];
  audience: string;
  /** The server's challenge nonce; default 32 random bytes. */
  nonce?: string;
  /** Unix milliseconds; default Date.now(). */
  timestamp?: number;
  /** PublicKeyCredentialRequestOptions.rpId; default the page's effective domain. */
  rpId?: string;
  timeoutMs?: number;
}

/** Signs a snapshot of the context with WebCrypto and returns the proof. */
export declare function requestProof(input: RequestProofInput): Promise<Proof>;
/** With `credential`: navigator.credentials.get (userVerification "required") and the WebAuthn proof. */
export declare function requestProof(input: RequestWebAuthnProofInput): Promise<WebAuthnProof>;
/** navigator.credentials.get with the proof's WebAuthn challenge, allowCredentials and userVerification "required". */
export declare function requestWebAuthnProof(input: RequestWebAuthnProofInput): Promise<WebAuthnProof>;

/** A trusted key: raw 32 bytes, SPKI DER, or the proof's base64 `publicKey` form. */
export type KeyInput = BufferSource | string;

export interface VerifyOptions {
  /** A fixed set of trusted keys (exactly one of trustedKeys and resolver). */
  trustedKeys?: KeyInput | KeyInput[];
  /** Per-subject trust: the keys enrolled for `context.subject`. */
  resolver?: (subject: string) => KeyInput[] | null | undefined;
  audience: string;
  /** Unix milliseconds; default Date.now(). */
  now?: number;
  maxAgeMs?: number;
  maxSkewMs?: number;
  maxBytes?: number;
  maxDepth?: number;
}

export type Verdict =
  | {
      valid: true;
      code: null;
      detail: null;
      keyId: string;
      subject: string | null;
      audience: string;
      nonce: string;
      timestamp: number;
      /** timestamp + maxAgeMs: keep the nonce at least until then. */
      expiresAt: number;
      contextDigest: Uint8Array;
      signedDigest: Uint8Array;
      context: Context;
    }
  | {
      valid: false;
      code: ErrorCode;
      detail: string;
      keyId: null;
      subject: null;
      audience: null;
      nonce: null;
      timestamp: null;
      expiresAt: null;
      contextDigest: null;
      signedDigest: null;
      context: null;
    };

/** Verifies a proof; never throws for a bad proof (see `code`), throws for bad options. */
export declare function verifyProof(proof: Proof | object | string | BufferSource, options: VerifyOptions): Verdict;
/** Strict Ed25519 verification of any message; false if the signature does not verify. */
export declare function verifySignature(publicKey: KeyInput, message: BufferSource, signature: BufferSource): boolean;
/** RFC 7638 key id of an Ed25519 public key. */
export declare function keyId(publicKey: KeyInput): string;
/** base64url without padding. */
export declare function base64url(bytes: BufferSource): string;
/** 32 fresh random bytes from crypto.getRandomValues, base64url. */
export declare function randomNonce(): string;

//! WebAssembly bindings of `proof-messenger-core`, for the JS package in `wasm/`.
//!
//! This crate converts types and maps errors, nothing else: every decision is
//! the core's. Contexts and proofs cross the boundary as JSON text (the JS glue
//! has already rejected what JSON cannot carry), binary values as byte arrays,
//! and every error as a thrown `ProofMessengerError` (see [`error`]).
//! Private keys never cross it: signing happens in WebCrypto, and this module
//! only sees the signed digest going out and the signature coming back.
//!
//! The raw exports are not a public API: `wasm/index.js` wraps them.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod convert;
pub mod error;

use proof_messenger_core::json::Limits;
use proof_messenger_core::verify::Policy;
use proof_messenger_core::{Error, ErrorCode, Result};
use wasm_bindgen::prelude::*;

use crate::convert::{ProofLimits, VerifyOptions};
use crate::error::to_js;

fn utf8(bytes: Vec<u8>) -> Result<String> {
    // Canonical JSON of parsed values is always UTF-8; this never fails.
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorCode::InvalidUtf8, "internal: output is not UTF-8"))
}

fn value_limits(max_depth: f64) -> Result<Limits> {
    Ok(convert::value_limits(convert::limit(max_depth, "maxDepth")?))
}

fn json_limits(max_bytes: f64, max_depth: f64) -> Result<Limits> {
    Ok(Limits { max_bytes: convert::limit(max_bytes, "maxBytes")?, max_depth: convert::limit(max_depth, "maxDepth")? })
}

fn proof_limits(max_bytes: f64, max_depth: f64) -> Result<ProofLimits> {
    Ok(ProofLimits {
        max_bytes: convert::limit(max_bytes, "maxBytes")?,
        max_depth: convert::limit(max_depth, "maxDepth")?,
    })
}

/// RFC 8785 canonical form of a JSON value given as JSON text.
#[wasm_bindgen]
pub fn canonicalize(json: &str, max_depth: f64) -> core::result::Result<String, JsValue> {
    value_limits(max_depth).and_then(|l| convert::canonical(json.as_bytes(), &l)).and_then(utf8).map_err(to_js)
}

/// SHA-256 of the canonical form of a JSON value given as JSON text.
#[wasm_bindgen(js_name = contextDigest)]
pub fn context_digest(json: &str, max_depth: f64) -> core::result::Result<Vec<u8>, JsValue> {
    value_limits(max_depth).and_then(|l| convert::context_digest(json.as_bytes(), &l)).map(Vec::from).map_err(to_js)
}

/// Human-comparable fingerprint of a JSON value given as JSON text.
#[wasm_bindgen]
pub fn fingerprint(json: &str, max_depth: f64) -> core::result::Result<String, JsValue> {
    value_limits(max_depth)
        .and_then(|l| convert::context_digest(json.as_bytes(), &l))
        .map(|d| proof_messenger_core::digest::fingerprint(&d))
        .map_err(to_js)
}

/// RFC 8785 canonical form of JSON text (bytes), parsed strictly under the limits.
#[wasm_bindgen(js_name = canonicalizeJson)]
pub fn canonicalize_json(json: &[u8], max_bytes: f64, max_depth: f64) -> core::result::Result<String, JsValue> {
    json_limits(max_bytes, max_depth)
        .and_then(|l| proof_messenger_core::canonical::canonicalize_json(json, &l))
        .and_then(utf8)
        .map_err(to_js)
}

/// `{"subject": ...}` of a proof, or `{"code", "detail"}` if it does not parse.
#[wasm_bindgen(js_name = proofSubject)]
pub fn proof_subject(proof_json: &[u8], max_bytes: f64, max_depth: f64) -> core::result::Result<String, JsValue> {
    json_limits(max_bytes, max_depth).map(|l| convert::proof_subject_json(proof_json, &l)).and_then(utf8).map_err(to_js)
}

/// `signed_digest || context_digest || signing payload` of a v1 envelope;
/// throws if the context is not an object or the proof would exceed the limits.
#[wasm_bindgen]
pub fn draft(
    context_json: &str,
    audience: &str,
    timestamp_ms: f64,
    nonce: &str,
    max_bytes: f64,
    max_depth: f64,
) -> core::result::Result<Vec<u8>, JsValue> {
    proof_limits(max_bytes, max_depth)
        .and_then(|l| convert::envelope(context_json.as_bytes(), audience, timestamp_ms, nonce, l))
        .map(|e| convert::draft_bytes(&e))
        .map_err(to_js)
}

/// The 32-byte signed digest of a v1 envelope under algorithm "WebAuthn"
/// (docs/PROTOCOL.md section 10.3): the `challenge` of
/// `navigator.credentials.get`.
#[wasm_bindgen(js_name = webauthnDigest)]
pub fn webauthn_digest(
    context_json: &str,
    audience: &str,
    timestamp_ms: f64,
    nonce: &str,
    max_bytes: f64,
    max_depth: f64,
) -> core::result::Result<Vec<u8>, JsValue> {
    proof_limits(max_bytes, max_depth)
        .and_then(|l| convert::envelope(context_json.as_bytes(), audience, timestamp_ms, nonce, l))
        .map(|e| e.signed_digest_for(proof_messenger_core::proof::Algorithm::WebAuthn).to_vec())
        .map_err(to_js)
}

/// Canonical JSON of the proof assembled from an envelope, a public key
/// (raw or SPKI) and a signature over the envelope's signed digest.
#[wasm_bindgen(js_name = assembleProof)]
#[allow(clippy::too_many_arguments)]
pub fn assemble_proof(
    context_json: &str,
    audience: &str,
    timestamp_ms: f64,
    nonce: &str,
    max_bytes: f64,
    max_depth: f64,
    public_key: &[u8],
    signature: &[u8],
) -> core::result::Result<String, JsValue> {
    proof_limits(max_bytes, max_depth)
        .and_then(|l| convert::envelope(context_json.as_bytes(), audience, timestamp_ms, nonce, l))
        .and_then(|e| convert::assemble(e, public_key, signature))
        .and_then(utf8)
        .map_err(to_js)
}

/// Verdict on a proof (JSON text of `{valid, code, detail, ...}`). Throws
/// only for bad options (keys, numbers); a bad proof is a verdict.
#[wasm_bindgen(js_name = verifyProof)]
#[allow(clippy::too_many_arguments)]
pub fn verify_proof(
    proof_json: &[u8],
    trusted_keys: &[u8],
    audience: &str,
    now_ms: f64,
    max_age_ms: f64,
    max_skew_ms: f64,
    max_bytes: f64,
    max_depth: f64,
) -> core::result::Result<String, JsValue> {
    let options = || -> Result<VerifyOptions> {
        Ok(VerifyOptions {
            trusted: convert::trusted_keys(trusted_keys)?,
            policy: Policy {
                audience: audience.to_owned(),
                now_ms: convert::whole_ms(now_ms, "now")?,
                max_age_ms: convert::whole_ms(max_age_ms, "maxAgeMs")?,
                max_skew_ms: convert::whole_ms(max_skew_ms, "maxSkewMs")?,
            },
            limits: json_limits(max_bytes, max_depth)?,
        })
    };
    options().map(|o| convert::verify_proof(proof_json, &o)).and_then(utf8).map_err(to_js)
}

/// Strict Ed25519 verification of any message: `false` if the signature does
/// not verify; throws for a malformed key or signature.
#[wasm_bindgen(js_name = verifySignature)]
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> core::result::Result<bool, JsValue> {
    convert::verify_signature(public_key, message, signature).map_err(to_js)
}

/// RFC 7638 key id of a public key (raw or SPKI); throws if the key is invalid.
#[wasm_bindgen(js_name = keyId)]
pub fn key_id(public_key: &[u8]) -> core::result::Result<String, JsValue> {
    convert::key_id(public_key).map_err(to_js)
}

/// Every stable error code, comma-separated.
#[wasm_bindgen(js_name = errorCodes)]
pub fn error_codes() -> String {
    convert::error_codes()
}

/// Panics: lets the tests prove that the JS glue recovers from a trap.
#[cfg(feature = "debug-panic")]
#[wasm_bindgen(js_name = __debugPanic)]
#[allow(clippy::panic)]
pub fn debug_panic(message: &str) {
    panic!("debug panic: {message}");
}

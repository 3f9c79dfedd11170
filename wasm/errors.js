// The one exception class of the package, shared by the WASM module (which
// imports it, see rust/wasm/src/error.rs) and the JS glue.

/**
 * Every stable error code, in the Rust core's order (rust/core/src/errors.rs).
 * Tests fail when this list drifts from the core's (wasm/test/api.test.js, "ERROR_CODES
 * match the WASM build") or from the Python package's (tests/test_wasm_cross.py).
 */
export const ERROR_CODES = Object.freeze([
  "input_too_large",
  "nesting_too_deep",
  "invalid_utf8",
  "invalid_json",
  "duplicate_key",
  "lone_surrogate",
  "non_finite_number",
  "inexact_number",
  "invalid_type",
  "missing_field",
  "unknown_field",
  "invalid_field",
  "unsupported_version",
  "unsupported_algorithm",
  "invalid_base64",
  "invalid_public_key",
  "weak_public_key",
  "untrusted_key",
  "missing_subject",
  "audience_mismatch",
  "proof_expired",
  "timestamp_in_future",
  "bad_signature",
  "nonce_replayed",
  "invalid_authenticator_data",
  "invalid_client_data",
  "invalid_attestation",
  "attestation_unsupported",
  "unsupported_cose_algorithm",
  "invalid_cose_key",
  "webauthn_type_mismatch",
  "challenge_mismatch",
  "origin_not_allowed",
  "cross_origin_not_allowed",
  "token_binding_unsupported",
  "rp_id_mismatch",
  "user_not_present",
  "user_not_verified",
  "counter_not_increasing",
]);

/** Bad input or a rejected proof: `.code` is one of ERROR_CODES, `.detail` says where. */
export class ProofMessengerError extends Error {
  constructor(code, detail) {
    super(`${code}: ${detail}`);
    this.name = "ProofMessengerError";
    this.code = code;
    this.detail = detail;
  }
}

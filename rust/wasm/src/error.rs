//! The one place where core errors become JS exceptions.
//!
//! The exception class is defined in JavaScript (`wasm/errors.js`), so that
//! `instanceof ProofMessengerError` holds for errors thrown by WASM and by the
//! JS glue alike, and it survives re-instantiation of the module after a trap.

use proof_messenger_core::Error;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(raw_module = "../errors.js")]
extern "C" {
    /// `class ProofMessengerError extends Error { code; detail }`.
    #[wasm_bindgen(js_name = ProofMessengerError)]
    pub type JsProofMessengerError;

    #[wasm_bindgen(constructor, js_class = "ProofMessengerError")]
    fn new(code: &str, detail: &str) -> JsProofMessengerError;
}

/// Converts a core error into a thrown `ProofMessengerError`.
pub fn to_js(error: Error) -> JsValue {
    JsProofMessengerError::new(error.code().as_str(), error.detail()).into()
}

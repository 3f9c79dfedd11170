//! `proof_messenger._core`: the PyO3 extension under the `proof_messenger` package.
//!
//! This crate only converts Python values to the core's types and back, maps
//! core errors to the Python exception class (`error.rs`), and releases the
//! GIL around parsing and curve arithmetic. Every decision is the core's.
#![forbid(unsafe_code)]

/// mimalloc frees cross-thread allocations (proofs parsed on rayon threads,
/// dropped on the Python thread) much faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod convert;
mod error;
mod keys;
mod log_key;
mod merkle;
mod proof;
mod relay;
mod verify;
mod webauthn;

use proof_messenger_core::json::{Limits, Numbers, Value};
use proof_messenger_core::verify::{DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS};
use proof_messenger_core::{canonical, digest, ErrorCode};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::convert::to_value;
use crate::error::to_py_err;

pub(crate) fn canonical_bytes(py: Python<'_>, obj: &Bound<'_, PyAny>, max_depth: usize) -> PyResult<Vec<u8>> {
    let value: Value = to_value(obj, max_depth).map_err(|e| to_py_err(py, &e))?;
    Ok(canonical::canonicalize(&value))
}

/// RFC 8785 canonical JSON of a Python value.
#[pyfunction]
#[pyo3(signature = (obj, *, max_depth = Limits::DEFAULT.max_depth))]
fn canonicalize<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>, max_depth: usize) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &canonical_bytes(py, obj, max_depth)?))
}

/// RFC 8785 canonical form of JSON text (bytes or str), parsed strictly.
///
/// `exact_numbers=False` rounds number literals to the nearest double as plain
/// RFC 8785 does, instead of rejecting them with `inexact_number`.
#[pyfunction]
#[pyo3(signature = (data, *, max_bytes = Limits::DEFAULT.max_bytes, max_depth = Limits::DEFAULT.max_depth, exact_numbers = true))]
fn canonicalize_json<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    max_bytes: usize,
    max_depth: usize,
    exact_numbers: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = proof::input_bytes(data).map_err(|e| to_py_err(py, &e))?;
    let limits = Limits { max_bytes, max_depth };
    let numbers = if exact_numbers { Numbers::Exact } else { Numbers::Nearest };
    let canonical =
        py.detach(|| canonical::canonicalize_json_with(&bytes, &limits, numbers)).map_err(|e| to_py_err(py, &e))?;
    Ok(PyBytes::new(py, &canonical))
}

/// SHA-256 of the canonical form of a context.
#[pyfunction]
#[pyo3(signature = (obj, *, max_depth = Limits::DEFAULT.max_depth))]
fn context_digest<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>, max_depth: usize) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &digest::context_digest(&canonical_bytes(py, obj, max_depth)?)))
}

/// The human-comparable fingerprint of a context.
#[pyfunction]
#[pyo3(signature = (obj, *, max_depth = Limits::DEFAULT.max_depth))]
fn fingerprint(py: Python<'_>, obj: &Bound<'_, PyAny>, max_depth: usize) -> PyResult<String> {
    Ok(digest::fingerprint(&digest::context_digest(&canonical_bytes(py, obj, max_depth)?)))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<keys::SigningKey>()?;
    m.add_class::<keys::VerifyingKey>()?;
    m.add_class::<log_key::LogKey>()?;
    m.add_class::<proof::Proof>()?;
    m.add_class::<verify::VerificationResult>()?;
    m.add_class::<verify::Verifier>()?;
    m.add_class::<verify::PyLimits>()?;
    m.add_class::<verify::PyRelyingParty>()?;
    m.add_class::<webauthn::WebAuthnCredential>()?;
    m.add_class::<webauthn::Registration>()?;
    m.add_function(wrap_pyfunction!(webauthn::verify_registration, m)?)?;
    m.add_function(wrap_pyfunction!(proof::sign, m)?)?;
    m.add_function(wrap_pyfunction!(proof::parse_proofs, m)?)?;
    m.add_function(wrap_pyfunction!(canonicalize, m)?)?;
    m.add_function(wrap_pyfunction!(canonicalize_json, m)?)?;
    m.add_function(wrap_pyfunction!(context_digest, m)?)?;
    m.add_function(wrap_pyfunction!(fingerprint, m)?)?;
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    m.add("ERROR_CODES", pyo3::types::PyTuple::new(m.py(), codes)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The defaults every keyword and setting of the package takes (core constants).
    m.add("DEFAULT_MAX_AGE_MS", DEFAULT_MAX_AGE_MS)?;
    m.add("DEFAULT_MAX_SKEW_MS", DEFAULT_MAX_SKEW_MS)?;
    m.add("DEFAULT_MAX_BYTES", Limits::DEFAULT.max_bytes)?;
    m.add("DEFAULT_MAX_DEPTH", Limits::DEFAULT.max_depth)?;
    merkle::register(m)?;
    relay::register(m)?;
    Ok(())
}

//! `proof_messenger._core.relay`: the Relay Server's native classes and writers
//! (the `proof-messenger-relay` crate), converted for the relay's Python code.
//!
//! Inputs arrive as declared shapes (`FromPyObject` structs read the
//! attributes an `ApiClient` or a `KeyRecord` has), results leave as Python
//! objects; every rule is the relay crate's.
use pyo3::prelude::*;

mod claims;
mod decision;
mod records;
mod token_buckets;

/// Adds the submodule to `parent` and registers it in `sys.modules`, so that
/// `import proof_messenger._core.relay` works.
pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = parent.py();
    let m = PyModule::new(py, "relay")?;
    m.add_class::<decision::Decision>()?;
    m.add_class::<claims::Claim>()?;
    m.add_class::<claims::NonceIndex>()?;
    m.add_class::<token_buckets::TokenBuckets>()?;
    m.add_function(wrap_pyfunction!(decision::decide, &m)?)?;
    m.add_function(wrap_pyfunction!(decision::refuse, &m)?)?;
    m.add_function(wrap_pyfunction!(decision::attach_receipts, &m)?)?;
    m.add_function(wrap_pyfunction!(decision::complete_receipts, &m)?)?;
    m.add_function(wrap_pyfunction!(claims::claims, &m)?)?;
    m.add_function(wrap_pyfunction!(claims::claim_key, &m)?)?;
    m.add_function(wrap_pyfunction!(records::audit_entries, &m)?)?;
    m.add_function(wrap_pyfunction!(records::record_entries, &m)?)?;
    m.add_function(wrap_pyfunction!(records::decision_lines, &m)?)?;
    m.add_function(wrap_pyfunction!(records::verdict, &m)?)?;
    m.add_function(wrap_pyfunction!(records::batch_body, &m)?)?;
    let codes: Vec<&str> = proof_messenger_relay::Refusal::ALL.iter().map(|r| r.code()).collect();
    m.add("REFUSAL_CODES", pyo3::types::PyTuple::new(py, codes)?)?;
    parent.add_submodule(&m)?;
    py.import("sys")?.getattr("modules")?.set_item("proof_messenger._core.relay", &m)?;
    Ok(())
}

/// A relay crate error as a Python `ValueError` (a caller's mistake, never a proof's).
pub(crate) fn value_error(e: proof_messenger_relay::RecordError) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(e.to_string())
}

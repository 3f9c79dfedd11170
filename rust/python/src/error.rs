//! The one place core errors become Python exceptions.
//!
//! The exception class lives in Python (`proof_messenger.errors`), so users
//! can subclass, pickle and document it like any Python class; this module
//! only instantiates it with the stable code and the detail.

use proof_messenger_core::{Error, ErrorCode};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

static ERROR_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Converts a core error into `proof_messenger.errors.ProofMessengerError`.
pub fn to_py_err(py: Python<'_>, error: &Error) -> PyErr {
    let class = ERROR_CLASS.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let class = py.import("proof_messenger.errors")?.getattr("ProofMessengerError")?;
        Ok(class.cast_into::<PyType>()?.unbind())
    });
    match class {
        Ok(class) => match class.bind(py).call1((error.code().as_str(), error.detail())) {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        },
        Err(e) => PyRuntimeError::new_err(format!("proof_messenger.errors is not importable: {e}")),
    }
}

/// Shorthand for an error made on the Python side of the boundary.
pub fn py_error(py: Python<'_>, code: ErrorCode, detail: impl Into<String>) -> PyErr {
    to_py_err(py, &Error::new(code, detail))
}

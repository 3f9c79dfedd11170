//! The audit log's signing key: Ed25519 over arbitrary bytes (checkpoint notes).
//!
//! Separate from `SigningKey`, which signs only the protocol's digest, so that a
//! proof key can never be made to sign a note (or a note key a proof). It exists
//! because the relay signs a checkpoint for every request group (every receipt
//! carries one): OpenSSL's Ed25519 through `cryptography` took 44.7 us per
//! signature on the benchmark machine, the core's (curve25519-dalek) much less
//! (docs/PERFORMANCE.md, "Checkpoint signatures").
use proof_messenger_core::ed25519::SigningKey as CoreSigningKey;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use zeroize::Zeroizing;

/// An Ed25519 key that signs checkpoint notes. The seed is zeroized when the
/// object is freed and never appears in its repr.
#[pyclass(frozen, module = "proof_messenger._core")]
pub struct LogKey {
    inner: CoreSigningKey,
}

#[pymethods]
impl LogKey {
    /// The key of a 32-byte RFC 8032 seed.
    #[new]
    fn new(seed: &[u8]) -> PyResult<LogKey> {
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(seed.try_into().map_err(|_| PyValueError::new_err("a log key seed is 32 bytes"))?);
        Ok(LogKey { inner: CoreSigningKey::from_seed(&seed) })
    }

    /// The raw 32-byte public key.
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.public_key().as_bytes())
    }

    /// The RFC 8032 signature of `message` (64 bytes).
    fn sign<'py>(&self, py: Python<'py>, message: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.sign(message))
    }

    fn __repr__(&self) -> String {
        "LogKey(<secret>)".to_owned()
    }
}

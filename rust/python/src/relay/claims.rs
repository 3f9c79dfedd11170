//! `Claim`, `claims` and `NonceIndex`: replay bookkeeping of the relay crate.
use proof_messenger_relay::claims::{claim_key as relay_claim_key, claim_keys, Claim as RelayClaim};
use proof_messenger_relay::nonce_index::NonceIndex as RelayNonceIndex;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::decision::{owner_at, Owner};
use super::value_error;
use crate::verify::VerificationResult;

/// One accepted proof's claim on its nonce: keep it until `expires_at_ms`.
#[pyclass(frozen, eq, hash, module = "proof_messenger._core.relay", name = "Claim")]
#[derive(PartialEq, Eq, Hash)]
pub struct Claim {
    inner: RelayClaim,
}

#[pymethods]
impl Claim {
    #[new]
    fn new(subject: String, audience: String, nonce: String, expires_at_ms: i64) -> Self {
        Claim { inner: RelayClaim { subject, audience, nonce, expires_at_ms } }
    }
    #[getter]
    fn subject(&self) -> &str {
        &self.inner.subject
    }
    #[getter]
    fn audience(&self) -> &str {
        &self.inner.audience
    }
    #[getter]
    fn nonce(&self) -> &str {
        &self.inner.nonce
    }
    #[getter]
    fn expires_at_ms(&self) -> i64 {
        self.inner.expires_at_ms
    }

    /// The claims' 16-byte keys, concatenated: SHA-256(SHA-256(subject) || nonce), truncated.
    #[staticmethod]
    fn keys<'py>(py: Python<'py>, claims: Vec<PyRef<'py, Claim>>) -> Bound<'py, PyBytes> {
        let refs: Vec<&RelayClaim> = claims.iter().map(|c| &c.inner).collect();
        PyBytes::new(py, &claim_keys(&refs))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = |s: &str| PyString::new(py, s).repr().map(|r| r.to_string());
        let c = &self.inner;
        Ok(format!(
            "Claim(subject={}, audience={}, nonce={}, expires_at_ms={})",
            r(&c.subject)?,
            r(&c.audience)?,
            r(&c.nonce)?,
            c.expires_at_ms
        ))
    }
}

/// The claims of the accepted results `results[k]` for `k` in `accepted`: the
/// owner's audience (`owners[owner_of[k]]`), kept until the proof expires
/// (or `now_ms`) plus `skew_ms`.
#[pyfunction]
#[pyo3(signature = (results, owners, owner_of, accepted, *, now_ms, skew_ms))]
pub fn claims(
    results: Vec<PyRef<'_, VerificationResult>>,
    owners: Vec<Owner>,
    owner_of: Vec<usize>,
    accepted: Vec<usize>,
    now_ms: i64,
    skew_ms: i64,
) -> PyResult<Vec<Claim>> {
    let owners: Vec<_> = owners.into_iter().map(Into::into).collect();
    let mut out = Vec::with_capacity(accepted.len());
    for k in accepted {
        let r = results.get(k).ok_or_else(|| value_error(proof_messenger_relay::RecordError::IndexOutOfRange(k)))?;
        let proof = match r.proof_arc() {
            Some(p) if r.is_valid() => p,
            _ => return Err(pyo3::exceptions::PyValueError::new_err(format!("result {k} was not accepted"))),
        };
        let owner = owner_at(&owners, &owner_of, k)?;
        let inner = RelayClaim::of(proof, &owner.audience, r.expiry_ms(), now_ms, skew_ms).map_err(value_error)?;
        out.push(Claim { inner });
    }
    Ok(out)
}

/// The claim key of `nonce` in the scope `scope` (SHA-256 of the subject, 32 bytes).
#[pyfunction]
pub fn claim_key<'py>(py: Python<'py>, scope: &[u8], nonce: &str) -> PyResult<Bound<'py, PyBytes>> {
    let scope: [u8; 32] =
        scope.try_into().map_err(|_| pyo3::exceptions::PyValueError::new_err("a scope is 32 bytes"))?;
    Ok(PyBytes::new(py, &relay_claim_key(&scope, nonce)))
}

/// Consumed nonce claims (16-byte keys) with the time each stops counting
/// (`proof-messenger-relay`'s `NonceIndex`: a cache of the SQLite claim log).
#[pyclass(frozen, module = "proof_messenger._core.relay", name = "NonceIndex")]
pub struct NonceIndex {
    inner: RelayNonceIndex,
}

#[pymethods]
impl NonceIndex {
    #[new]
    fn new() -> Self {
        NonceIndex { inner: RelayNonceIndex::new() }
    }
    /// Records `keys` (concatenated 16-byte keys) with their expiries (the later one wins);
    /// entries expired at `now_ms` are skipped.
    fn add(&self, keys: &[u8], expires_at_ms: Vec<u64>, now_ms: u64) -> PyResult<()> {
        self.inner.add(keys, &expires_at_ms, now_ms).map_err(value_error)
    }
    /// For each key: recorded and unexpired at `now_ms` (expiry >= now)?
    fn seen(&self, keys: &[u8], now_ms: u64) -> PyResult<Vec<bool>> {
        self.inner.seen(keys, now_ms).map_err(value_error)
    }
    /// Forgets entries expired at `now_ms`; returns how many.
    fn purge(&self, now_ms: u64) -> usize {
        self.inner.purge(now_ms)
    }
    /// Forgets everything.
    fn clear(&self) {
        self.inner.clear();
    }
    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

//! `verify` and `verify_batch`: collect inputs with the GIL, decide without it.

use std::collections::HashMap;
use std::sync::Arc;

use proof_messenger_core::batch::{verify_batch as core_verify_batch, BatchItem};
use proof_messenger_core::ed25519::PublicKey;
use proof_messenger_core::json::Limits;
use proof_messenger_core::proof::Proof as CoreProof;
use proof_messenger_core::verify::{verify as core_verify, Policy};
use proof_messenger_core::{Error, ErrorCode};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use rayon::prelude::*;

use crate::convert::{object_to_python, to_value};
use crate::keys::VerifyingKey;
use crate::proof::{input_bytes, Proof};

/// The outcome of verifying one proof.
///
/// `context` is only given for a valid proof, so that nobody acts on an
/// unverified one by mistake; the envelope members (subject, key id, nonce,
/// ...) are given whenever the proof parsed, for logging and replay stores.
#[pyclass(frozen, module = "proof_messenger")]
pub struct VerificationResult {
    error: Option<Error>,
    proof: Option<Arc<CoreProof>>,
    expires_at_ms: Option<u64>,
}

#[pymethods]
impl VerificationResult {
    /// True when every check passed.
    #[getter]
    fn valid(&self) -> bool {
        self.error.is_none()
    }
    /// The stable reason code when invalid, else None.
    #[getter]
    fn code(&self) -> Option<&'static str> {
        self.error.as_ref().map(|e| e.code().as_str())
    }
    /// A human-readable reason when invalid, else None.
    #[getter]
    fn detail(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.detail())
    }
    /// The verified context (a new dict on each access), only when valid.
    #[getter]
    fn context<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match (&self.error, &self.proof) {
            (None, Some(proof)) => Ok(Some(object_to_python(py, proof.envelope().context())?)),
            _ => Ok(None),
        }
    }
    /// `context["subject"]` of a parsed proof.
    #[getter]
    fn subject(&self) -> Option<&str> {
        self.proof.as_ref().and_then(|p| p.envelope().subject())
    }
    /// Key id of the proof's key (a parsed proof).
    #[getter]
    fn key_id(&self) -> Option<String> {
        self.proof.as_ref().map(|p| p.key_id())
    }
    /// The proof's audience (a parsed proof).
    #[getter]
    fn audience(&self) -> Option<&str> {
        self.proof.as_ref().map(|p| p.envelope().audience())
    }
    /// The nonce to consume in a replay store (a parsed proof).
    #[getter]
    fn nonce(&self) -> Option<&str> {
        self.proof.as_ref().map(|p| p.envelope().nonce())
    }
    /// The proof's timestamp, Unix ms (a parsed proof).
    #[getter]
    fn timestamp_ms(&self) -> Option<u64> {
        self.proof.as_ref().map(|p| p.envelope().timestamp_ms())
    }
    /// timestamp + max age: remember the nonce at least until then.
    #[getter]
    fn expires_at_ms(&self) -> Option<u64> {
        self.expires_at_ms
    }
    /// SHA-256 of the canonical context (a parsed proof).
    #[getter]
    fn context_digest<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.proof.as_ref().map(|p| PyBytes::new(py, p.envelope().context_digest()))
    }
    /// The digest the key signed (a parsed proof).
    #[getter]
    fn signed_digest<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.proof.as_ref().map(|p| PyBytes::new(py, p.envelope().signed_digest()))
    }
    /// The parsed proof, if it parsed.
    #[getter]
    fn proof(&self) -> Option<Proof> {
        self.proof.as_ref().map(|p| Proof { inner: Arc::clone(p) })
    }

    fn __bool__(&self) -> bool {
        self.error.is_none()
    }

    fn __repr__(&self) -> String {
        match &self.error {
            None => format!("VerificationResult(valid=True, key_id={:?})", self.key_id().unwrap_or_default()),
            Some(e) => format!("VerificationResult(valid=False, code={:?})", e.code().as_str()),
        }
    }
}

/// A proof as handed in: raw bytes to parse, or already parsed, or refused.
enum Input {
    Bytes(Vec<u8>),
    Parsed(Arc<CoreProof>),
    Failed(Error),
}

fn gather(obj: &Bound<'_, PyAny>, max_depth: usize) -> Input {
    if let Ok(proof) = obj.cast::<Proof>() {
        return Input::Parsed(Arc::clone(&proof.get().inner));
    }
    if obj.is_instance_of::<PyDict>() {
        return match to_value(obj, max_depth).and_then(CoreProof::from_value) {
            Ok(p) => Input::Parsed(Arc::new(p)),
            Err(e) => Input::Failed(e),
        };
    }
    match input_bytes(obj) {
        Ok(bytes) => Input::Bytes(bytes),
        Err(e) => Input::Failed(e),
    }
}

fn parse(input: Input, limits: &Limits) -> Result<Arc<CoreProof>, Error> {
    match input {
        Input::Bytes(bytes) => CoreProof::parse(&bytes, limits).map(Arc::new),
        Input::Parsed(p) => Ok(p),
        Input::Failed(e) => Err(e),
    }
}

/// Where trusted keys come from: one fixed set, or a per-subject resolver.
enum Trust<'py> {
    Fixed(Vec<PublicKey>),
    Resolver(Bound<'py, PyAny>),
}

fn trust<'py>(trusted_keys: Option<&Bound<'py, PyAny>>, resolver: Option<Bound<'py, PyAny>>) -> PyResult<Trust<'py>> {
    match (trusted_keys, resolver) {
        (Some(keys), None) => Ok(Trust::Fixed(keys_from(keys)?)),
        (None, Some(resolver)) => Ok(Trust::Resolver(resolver)),
        _ => Err(PyTypeError::new_err("pass exactly one of trusted_keys= or resolver=")),
    }
}

fn keys_from(obj: &Bound<'_, PyAny>) -> PyResult<Vec<PublicKey>> {
    if let Ok(key) = obj.cast::<VerifyingKey>() {
        return Ok(vec![key.get().inner.clone()]);
    }
    let mut keys = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        let key = item
            .cast::<VerifyingKey>()
            .map_err(|_| PyTypeError::new_err("trusted keys must be proof_messenger.VerifyingKey objects"))?;
        keys.push(key.get().inner.clone());
    }
    Ok(keys)
}

/// Asks the resolver once per distinct subject (with the GIL held).
fn resolve<'a>(
    resolver: &Bound<'_, PyAny>,
    parsed: &'a [Result<Arc<CoreProof>, Error>],
) -> PyResult<HashMap<&'a str, Vec<PublicKey>>> {
    let mut keys: HashMap<&'a str, Vec<PublicKey>> = HashMap::new();
    for proof in parsed.iter().flatten() {
        if let Some(subject) = proof.envelope().subject() {
            if !keys.contains_key(subject) {
                let resolved = resolver.call1((subject,))?;
                let resolved = if resolved.is_none() { Vec::new() } else { keys_from(&resolved)? };
                keys.insert(subject, resolved);
            }
        }
    }
    Ok(keys)
}

fn missing_subject() -> Error {
    Error::new(ErrorCode::MissingSubject, "keys are resolved per subject but context.subject is absent")
}

fn result(outcome: Result<(), Error>, proof: Option<Arc<CoreProof>>, policy: &Policy) -> VerificationResult {
    let expires_at_ms = proof.as_ref().map(|p| policy.expires_at_ms(p));
    VerificationResult { error: outcome.err(), proof, expires_at_ms }
}

/// Verifies one proof. The Python wrapper supplies `now_ms` from the clock.
#[pyfunction]
#[pyo3(signature = (proof, *, audience, now_ms, trusted_keys = None, resolver = None, max_age_ms = 300_000, max_skew_ms = 30_000, max_bytes = 65_536, max_depth = 32))]
#[allow(clippy::too_many_arguments)]
pub fn verify<'py>(
    py: Python<'py>,
    proof: &Bound<'py, PyAny>,
    audience: String,
    now_ms: u64,
    trusted_keys: Option<&Bound<'py, PyAny>>,
    resolver: Option<Bound<'py, PyAny>>,
    max_age_ms: u64,
    max_skew_ms: u64,
    max_bytes: usize,
    max_depth: usize,
) -> PyResult<VerificationResult> {
    let trust = trust(trusted_keys, resolver)?;
    let policy = Policy { audience, now_ms, max_age_ms, max_skew_ms };
    let limits = Limits { max_bytes, max_depth };
    let input = gather(proof, max_depth);
    let parsed = py.detach(|| parse(input, &limits));
    let proof = match parsed {
        Ok(p) => p,
        Err(e) => return Ok(result(Err(e), None, &policy)),
    };
    let keys = match &trust {
        Trust::Fixed(keys) => Ok(keys.clone()),
        Trust::Resolver(resolver) => match proof.envelope().subject() {
            None => Err(missing_subject()),
            Some(subject) => {
                let resolved = resolver.call1((subject,))?;
                Ok(if resolved.is_none() { Vec::new() } else { keys_from(&resolved)? })
            }
        },
    };
    let outcome = match keys {
        Ok(keys) => py.detach(|| core_verify(&proof, &keys, &policy)),
        Err(e) => Err(e),
    };
    Ok(result(outcome, Some(proof), &policy))
}

/// Verifies many proofs on all cores; one result per proof, in order.
#[pyfunction]
#[pyo3(signature = (proofs, *, audience, now_ms, trusted_keys = None, resolver = None, max_age_ms = 300_000, max_skew_ms = 30_000, max_bytes = 65_536, max_depth = 32))]
#[allow(clippy::too_many_arguments)]
pub fn verify_batch<'py>(
    py: Python<'py>,
    proofs: &Bound<'py, PyAny>,
    audience: String,
    now_ms: u64,
    trusted_keys: Option<&Bound<'py, PyAny>>,
    resolver: Option<Bound<'py, PyAny>>,
    max_age_ms: u64,
    max_skew_ms: u64,
    max_bytes: usize,
    max_depth: usize,
) -> PyResult<Vec<VerificationResult>> {
    let trust = trust(trusted_keys, resolver)?;
    let policy = Policy { audience, now_ms, max_age_ms, max_skew_ms };
    let limits = Limits { max_bytes, max_depth };
    let inputs: Vec<Input> = proofs.try_iter()?.map(|p| p.map(|p| gather(&p, max_depth))).collect::<PyResult<_>>()?;
    let parsed: Vec<Result<Arc<CoreProof>, Error>> =
        py.detach(|| inputs.into_par_iter().map(|input| parse(input, &limits)).collect());

    let (fixed, resolved): (&[PublicKey], Option<HashMap<&str, Vec<PublicKey>>>) = match &trust {
        Trust::Fixed(keys) => (keys, None),
        Trust::Resolver(resolver) => (&[], Some(resolve(resolver, &parsed)?)),
    };
    let outcomes: Vec<Result<(), Error>> = py.detach(|| {
        // Items that failed before the signature keep their error; the rest are batched.
        let mut outcomes: Vec<Option<Result<(), Error>>> = Vec::with_capacity(parsed.len());
        let mut items: Vec<BatchItem<'_>> = Vec::with_capacity(parsed.len());
        let mut slots: Vec<usize> = Vec::with_capacity(parsed.len());
        for (index, proof) in parsed.iter().enumerate() {
            let proof = match proof {
                Ok(p) => p,
                Err(e) => {
                    outcomes.push(Some(Err(e.clone())));
                    continue;
                }
            };
            let trusted: Result<&[PublicKey], Error> = match &resolved {
                None => Ok(fixed),
                Some(resolved) => match proof.envelope().subject() {
                    None => Err(missing_subject()),
                    Some(subject) => Ok(resolved.get(subject).map(Vec::as_slice).unwrap_or(&[])),
                },
            };
            match trusted {
                Ok(trusted) => {
                    items.push(BatchItem { proof, trusted });
                    slots.push(index);
                    outcomes.push(None);
                }
                Err(e) => outcomes.push(Some(Err(e))),
            }
        }
        for (slot, verdict) in slots.into_iter().zip(core_verify_batch(&items, &policy)) {
            if let Some(entry) = outcomes.get_mut(slot) {
                *entry = Some(verdict);
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(Error::new(ErrorCode::BadSignature, "not verified"))))
            .collect()
    });
    drop(resolved);
    Ok(parsed
        .into_iter()
        .zip(outcomes)
        .map(|(proof, outcome)| result(outcome, proof.ok(), &policy))
        .collect())
}

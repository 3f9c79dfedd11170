//! `verify` and `verify_batch`: collect inputs with the GIL, decide without it.

use std::collections::HashMap;
use std::sync::Arc;

use proof_messenger_core::batch::{verify_batch_with, Item};
use proof_messenger_core::ed25519::PublicKey;
use proof_messenger_core::json::Limits;
use proof_messenger_core::proof::AnyProof;
use proof_messenger_core::verify::{verify_with, Policy, Trusted, Verified};
use proof_messenger_core::webauthn::{AuthenticatorState, Credential, RelyingParty};
use proof_messenger_core::{Error, ErrorCode};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use rayon::prelude::*;

use crate::convert::{is_mapping, object_to_python, to_value};
use crate::keys::VerifyingKey;
use crate::proof::{input_bytes, Proof};
use crate::webauthn::{relying_party, WebAuthnCredential};

/// The outcome of verifying one proof.
///
/// `context` is only given for a valid proof, so that nobody acts on an
/// unverified one by mistake; the envelope members (subject, key id, nonce,
/// ...) are given whenever the proof parsed, for logging and replay stores.
/// The authenticator's new state (`sign_count`, flags) is given only for a
/// valid WebAuthn proof: it is what the key registry stores back.
#[pyclass(frozen, module = "proof_messenger")]
pub struct VerificationResult {
    error: Option<Error>,
    proof: Option<Arc<AnyProof>>,
    expires_at_ms: Option<u64>,
    authenticator: Option<AuthenticatorState>,
}

#[pymethods]
impl VerificationResult {
    /// True when every check passed.
    #[getter]
    fn valid(&self) -> bool {
        self.is_valid()
    }
    /// The stable reason code when invalid, else None.
    #[getter]
    fn code(&self) -> Option<&'static str> {
        self.error_code()
    }
    /// A human-readable reason when invalid, else None.
    #[getter]
    fn detail(&self) -> Option<&str> {
        self.error_detail()
    }
    /// The verified context (a new dict on each access), only when valid.
    #[getter]
    fn context<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.context_dict(py)
    }
    /// The verified context's RFC 8785 canonical JSON (the bytes its digest is
    /// of), only when valid.
    #[getter]
    fn canonical_context<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.canonical_context_bytes().map(|json| PyBytes::new(py, json))
    }
    /// `context["subject"]` of a parsed proof.
    #[getter]
    fn subject(&self) -> Option<&str> {
        self.proof.as_ref().and_then(|p| p.envelope().subject())
    }
    /// "Ed25519" or "WebAuthn" (a parsed proof).
    #[getter]
    fn algorithm(&self) -> Option<&'static str> {
        self.proof.as_ref().map(|p| p.envelope().algorithm().as_str())
    }
    /// Key id of the proof's key (a parsed proof): the Ed25519 key's
    /// thumbprint, or the WebAuthn credential id (base64url).
    #[getter]
    fn key_id(&self) -> Option<String> {
        self.proof.as_ref().map(|p| p.key_id())
    }
    /// The WebAuthn credential id (a parsed WebAuthn proof).
    #[getter]
    fn credential_id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        match self.proof.as_deref() {
            Some(AnyProof::WebAuthn(p)) => Some(PyBytes::new(py, p.assertion().credential_id())),
            _ => None,
        }
    }
    /// The authenticator's new signature counter: store it (valid WebAuthn proofs only).
    #[getter]
    fn sign_count(&self) -> Option<u32> {
        self.authenticator.map(|a| a.sign_count)
    }
    /// The user-verified (UV) flag (valid WebAuthn proofs only).
    #[getter]
    fn user_verified(&self) -> Option<bool> {
        self.authenticator.map(|a| a.flags.user_verified())
    }
    /// Backup eligible, BE (valid WebAuthn proofs only).
    #[getter]
    fn backup_eligible(&self) -> Option<bool> {
        self.authenticator.map(|a| a.flags.backup_eligible())
    }
    /// Backup state, BS (valid WebAuthn proofs only).
    #[getter]
    fn backup_state(&self) -> Option<bool> {
        self.authenticator.map(|a| a.flags.backup_state())
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
    /// The digest the key signed, or the WebAuthn challenge (a parsed proof).
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

impl VerificationResult {
    pub(crate) fn is_valid(&self) -> bool {
        self.error.is_none()
    }
    pub(crate) fn error_code(&self) -> Option<&'static str> {
        self.error.as_ref().map(|e| e.code().as_str())
    }
    pub(crate) fn error_detail(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.detail())
    }
    /// timestamp + max age, when the proof parsed.
    pub(crate) fn expiry_ms(&self) -> Option<u64> {
        self.expires_at_ms
    }
    /// The proof, when it parsed.
    pub(crate) fn parsed(&self) -> Option<&AnyProof> {
        self.proof.as_deref()
    }
    /// The verified context as a new dict, only when valid.
    pub(crate) fn context_dict<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        match (&self.error, &self.proof) {
            (None, Some(proof)) => Ok(Some(object_to_python(py, proof.envelope().context())?)),
            _ => Ok(None),
        }
    }
    /// The verified context's canonical JSON, only when valid.
    pub(crate) fn canonical_context_bytes(&self) -> Option<&[u8]> {
        match (&self.error, &self.proof) {
            (None, Some(proof)) => Some(proof.envelope().canonical_context()),
            _ => None,
        }
    }
}

/// A proof as handed in: raw bytes to parse, or already parsed, or refused.
enum Input {
    Bytes(Vec<u8>),
    Parsed(Arc<AnyProof>),
    Failed(Error),
}

fn gather(obj: &Bound<'_, PyAny>, max_depth: usize) -> Input {
    if let Ok(proof) = obj.cast::<Proof>() {
        return Input::Parsed(Arc::clone(&proof.get().inner));
    }
    if obj.is_instance_of::<PyDict>() || is_mapping(obj) {
        return match to_value(obj, max_depth).and_then(AnyProof::from_value) {
            Ok(p) => Input::Parsed(Arc::new(p)),
            Err(e) => Input::Failed(e),
        };
    }
    match input_bytes(obj) {
        Ok(bytes) => Input::Bytes(bytes),
        Err(e) => Input::Failed(e),
    }
}

fn parse(input: Input, limits: &Limits) -> Result<Arc<AnyProof>, Error> {
    match input {
        Input::Bytes(bytes) => AnyProof::parse(&bytes, limits).map(Arc::new),
        Input::Parsed(p) => Ok(p),
        Input::Failed(e) => Err(e),
    }
}

/// What is trusted for one subject: Ed25519 keys and WebAuthn credentials.
#[derive(Default)]
struct TrustSet {
    keys: Vec<PublicKey>,
    credentials: Vec<Credential>,
    /// Raw key bytes -> position in `keys`, so a large fixed set is searched
    /// in O(1) per proof instead of scanned (built by [`TrustSet::indexed`]).
    index: Option<HashMap<[u8; 32], usize>>,
}

/// Above this many keys, lookups go through a hash index.
const INDEX_THRESHOLD: usize = 8;

impl TrustSet {
    /// What the core may trust for `proof`: with an index, only the key the
    /// proof names (if trusted), which is exactly what a scan would find.
    fn trusted_for(&self, proof: &AnyProof) -> Trusted<'_> {
        let keys: &[PublicKey] = match (&self.index, proof) {
            (Some(index), AnyProof::Ed25519(p)) => {
                index.get(p.public_key()).and_then(|&i| self.keys.get(i)).map_or(&[], std::slice::from_ref)
            }
            _ => &self.keys,
        };
        Trusted { keys, credentials: &self.credentials }
    }

    fn indexed(mut self) -> TrustSet {
        if self.keys.len() > INDEX_THRESHOLD {
            self.index = Some(self.keys.iter().enumerate().map(|(i, k)| (*k.as_bytes(), i)).collect());
        }
        self
    }

    fn add(&mut self, item: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(key) = item.cast::<VerifyingKey>() {
            self.keys.push(key.get().inner.clone());
        } else if let Ok(credential) = item.cast::<WebAuthnCredential>() {
            self.credentials.push(credential.get().inner.clone());
        } else {
            return Err(PyTypeError::new_err(
                "trusted keys must be proof_messenger.VerifyingKey or proof_messenger.WebAuthnCredential objects",
            ));
        }
        Ok(())
    }

    /// One key or credential, an iterable of them, or None (nothing trusted).
    fn from_python(obj: &Bound<'_, PyAny>) -> PyResult<TrustSet> {
        let mut set = TrustSet::default();
        if obj.is_none() {
            return Ok(set);
        }
        if obj.is_instance_of::<VerifyingKey>() || obj.is_instance_of::<WebAuthnCredential>() {
            set.add(obj)?;
            return Ok(set);
        }
        for item in obj.try_iter()? {
            set.add(&item?)?;
        }
        Ok(set)
    }
}

/// Where trusted keys come from: one fixed set, or a per-subject resolver.
enum Trust<'py> {
    Fixed(TrustSet),
    Resolver(Bound<'py, PyAny>),
}

fn trust<'py>(trusted_keys: Option<&Bound<'py, PyAny>>, resolver: Option<Bound<'py, PyAny>>) -> PyResult<Trust<'py>> {
    match (trusted_keys, resolver) {
        (Some(keys), None) => Ok(Trust::Fixed(TrustSet::from_python(keys)?.indexed())),
        (None, Some(resolver)) => Ok(Trust::Resolver(resolver)),
        _ => Err(PyTypeError::new_err("pass exactly one of trusted_keys= or resolver=")),
    }
}

/// The WebAuthn policy of the keywords; None when `rp_id=` is not given.
fn webauthn_policy(
    rp_id: Option<String>,
    origins: Option<&Bound<'_, PyAny>>,
    require_user_verification: bool,
    allow_cross_origin: bool,
) -> PyResult<Option<RelyingParty>> {
    match (rp_id, origins) {
        (None, None) => Ok(None),
        (Some(rp_id), Some(origins)) => {
            relying_party(rp_id, origins, require_user_verification, allow_cross_origin).map(Some)
        }
        _ => Err(PyTypeError::new_err("WebAuthn proofs need both rp_id= and origins=")),
    }
}

/// Asks the resolver once per distinct subject (with the GIL held).
fn resolve<'a>(
    resolver: &Bound<'_, PyAny>,
    parsed: &'a [Result<Arc<AnyProof>, Error>],
) -> PyResult<HashMap<&'a str, TrustSet>> {
    let mut sets: HashMap<&'a str, TrustSet> = HashMap::with_capacity(parsed.len());
    for proof in parsed.iter().flatten() {
        if let Some(subject) = proof.envelope().subject() {
            if let std::collections::hash_map::Entry::Vacant(slot) = sets.entry(subject) {
                slot.insert(TrustSet::from_python(&resolver.call1((subject,))?)?.indexed());
            }
        }
    }
    Ok(sets)
}

fn missing_subject() -> Error {
    Error::new(ErrorCode::MissingSubject, "keys are resolved per subject but context.subject is absent")
}

fn result(outcome: Result<Verified, Error>, proof: Option<Arc<AnyProof>>, policy: &Policy) -> VerificationResult {
    let expires_at_ms = proof.as_ref().map(|p| policy.expires_at(p.envelope()));
    let (error, authenticator) = match outcome {
        Ok(Verified::WebAuthn(state)) => (None, Some(state)),
        Ok(_) => (None, None),
        Err(e) => (Some(e), None),
    };
    VerificationResult { error, proof, expires_at_ms, authenticator }
}

/// Verifies one proof. The Python wrapper supplies `now_ms` from the clock.
#[pyfunction]
#[pyo3(signature = (proof, *, audience, now_ms, trusted_keys = None, resolver = None, max_age_ms = 300_000, max_skew_ms = 30_000, max_bytes = 65_536, max_depth = 32, rp_id = None, origins = None, require_user_verification = true, allow_cross_origin = false))]
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
    rp_id: Option<String>,
    origins: Option<&Bound<'py, PyAny>>,
    require_user_verification: bool,
    allow_cross_origin: bool,
) -> PyResult<VerificationResult> {
    let trust = trust(trusted_keys, resolver)?;
    let relying_party = webauthn_policy(rp_id, origins, require_user_verification, allow_cross_origin)?;
    let policy = Policy { audience, now_ms, max_age_ms, max_skew_ms };
    let limits = Limits { max_bytes, max_depth };
    let input = gather(proof, max_depth);
    let parsed = py.detach(|| parse(input, &limits));
    let proof = match parsed {
        Ok(p) => p,
        Err(e) => return Ok(result(Err(e), None, &policy)),
    };
    let rp = relying_party.as_ref();
    let outcome = match &trust {
        Trust::Fixed(fixed) => py.detach(|| verify_with(&proof, fixed.trusted_for(&proof), &policy, rp)),
        Trust::Resolver(resolver) => match proof.envelope().subject() {
            None => Err(missing_subject()),
            Some(subject) => {
                let resolved = TrustSet::from_python(&resolver.call1((subject,))?)?;
                py.detach(|| verify_with(&proof, resolved.trusted_for(&proof), &policy, rp))
            }
        },
    };
    Ok(result(outcome, Some(proof), &policy))
}

/// Verifies many proofs on all cores; one result per proof, in order.
#[pyfunction]
#[pyo3(signature = (proofs, *, audience, now_ms, trusted_keys = None, resolver = None, max_age_ms = 300_000, max_skew_ms = 30_000, max_bytes = 65_536, max_depth = 32, rp_id = None, origins = None, require_user_verification = true, allow_cross_origin = false))]
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
    rp_id: Option<String>,
    origins: Option<&Bound<'py, PyAny>>,
    require_user_verification: bool,
    allow_cross_origin: bool,
) -> PyResult<Vec<VerificationResult>> {
    let trust = trust(trusted_keys, resolver)?;
    let relying_party = webauthn_policy(rp_id, origins, require_user_verification, allow_cross_origin)?;
    let policy = Policy { audience, now_ms, max_age_ms, max_skew_ms };
    let limits = Limits { max_bytes, max_depth };
    let inputs: Vec<Input> = proofs.try_iter()?.map(|p| p.map(|p| gather(&p, max_depth))).collect::<PyResult<_>>()?;
    let parsed: Vec<Result<Arc<AnyProof>, Error>> =
        py.detach(|| inputs.into_par_iter().map(|input| parse(input, &limits)).collect());

    let (fixed, resolved): (Option<&TrustSet>, Option<HashMap<&str, TrustSet>>) = match &trust {
        Trust::Fixed(set) => (Some(set), None),
        Trust::Resolver(resolver) => (None, Some(resolve(resolver, &parsed)?)),
    };
    let empty = TrustSet::default();
    let outcomes: Vec<Result<Verified, Error>> = py.detach(|| {
        // Items that failed before verification keep their error; the rest are batched.
        let mut outcomes: Vec<Option<Result<Verified, Error>>> = Vec::with_capacity(parsed.len());
        let mut items: Vec<Item<'_>> = Vec::with_capacity(parsed.len());
        let mut slots: Vec<usize> = Vec::with_capacity(parsed.len());
        for (index, proof) in parsed.iter().enumerate() {
            let proof = match proof {
                Ok(p) => p,
                Err(e) => {
                    outcomes.push(Some(Err(e.clone())));
                    continue;
                }
            };
            let trusted: Result<&TrustSet, Error> = match (&fixed, &resolved) {
                (Some(set), _) => Ok(set),
                (None, Some(resolved)) => match proof.envelope().subject() {
                    None => Err(missing_subject()),
                    Some(subject) => Ok(resolved.get(subject).unwrap_or(&empty)),
                },
                (None, None) => Ok(&empty),
            };
            match trusted {
                Ok(set) => {
                    items.push(Item { proof, trusted: set.trusted_for(proof) });
                    slots.push(index);
                    outcomes.push(None);
                }
                Err(e) => outcomes.push(Some(Err(e))),
            }
        }
        for (slot, verdict) in slots.into_iter().zip(verify_batch_with(&items, &policy, relying_party.as_ref())) {
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
    Ok(parsed.into_iter().zip(outcomes).map(|(proof, outcome)| result(outcome, proof.ok(), &policy)).collect())
}

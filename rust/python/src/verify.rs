//! `verify` and `verify_batch`: collect inputs with the GIL, decide without it.

use std::collections::HashMap;
use std::sync::Arc;

use proof_messenger_core::batch::{verify_requests_with, Item, Origin};
use proof_messenger_core::ed25519::PublicKey;
use proof_messenger_core::json::Limits;
use proof_messenger_core::proof::AnyProof;
use proof_messenger_core::verify::{verify_with, Policy, Trusted, Verified, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS};
use proof_messenger_core::webauthn::{AuthenticatorState, Credential, RelyingParty};
use proof_messenger_core::{Error, ErrorCode};
use pyo3::exceptions::{PyTypeError, PyValueError};
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
    pub(crate) fn proof_arc(&self) -> Option<&Arc<AnyProof>> {
        self.proof.as_ref()
    }
    /// The core's verdict.
    pub(crate) fn verdict(&self) -> Result<(), &Error> {
        self.error.as_ref().map_or(Ok(()), Err)
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

/// Size and nesting limits of proof input (`pm.Limits`).
#[pyclass(frozen, module = "proof_messenger", name = "Limits")]
#[derive(Clone, Copy)]
pub struct PyLimits {
    pub(crate) inner: Limits,
}

#[pymethods]
impl PyLimits {
    #[new]
    #[pyo3(signature = (*, max_bytes = Limits::DEFAULT.max_bytes, max_depth = Limits::DEFAULT.max_depth))]
    fn new(max_bytes: usize, max_depth: usize) -> Self {
        PyLimits { inner: Limits { max_bytes, max_depth } }
    }
    /// The largest proof, in bytes.
    #[getter]
    fn max_bytes(&self) -> usize {
        self.inner.max_bytes
    }
    /// The deepest nesting of arrays and objects.
    #[getter]
    fn max_depth(&self) -> usize {
        self.inner.max_depth
    }
    fn __repr__(&self) -> String {
        format!("Limits(max_bytes={}, max_depth={})", self.inner.max_bytes, self.inner.max_depth)
    }
}

/// A WebAuthn relying party's policy (`pm.RelyingParty`): its RP id, the
/// exact origins allowed, and whether user verification is required.
#[pyclass(frozen, module = "proof_messenger", name = "RelyingParty")]
pub struct PyRelyingParty {
    pub(crate) inner: RelyingParty,
}

#[pymethods]
impl PyRelyingParty {
    #[new]
    #[pyo3(signature = (rp_id, origins, *, require_user_verification = true, allow_cross_origin = false))]
    fn new(
        rp_id: String,
        origins: &Bound<'_, PyAny>,
        require_user_verification: bool,
        allow_cross_origin: bool,
    ) -> PyResult<Self> {
        Ok(PyRelyingParty { inner: relying_party(rp_id, origins, require_user_verification, allow_cross_origin)? })
    }
    #[getter]
    fn rp_id(&self) -> &str {
        &self.inner.rp_id
    }
    #[getter]
    fn origins(&self) -> Vec<String> {
        self.inner.origins.clone()
    }
    #[getter]
    fn require_user_verification(&self) -> bool {
        self.inner.require_user_verification
    }
    #[getter]
    fn allow_cross_origin(&self) -> bool {
        self.inner.allow_cross_origin
    }
    fn __repr__(&self) -> String {
        format!("RelyingParty(rp_id={:?}, origins={:?})", self.inner.rp_id, self.inner.origins)
    }
}

/// A configured verifier: the audience, freshness, input limits and WebAuthn
/// policy are set once; `verify` and `verify_batch` take the proofs, the
/// trusted keys (or a resolver) and, optionally, the time.
#[pyclass(frozen, module = "proof_messenger")]
pub struct Verifier {
    audience: String,
    max_age_ms: u64,
    max_skew_ms: u64,
    limits: Limits,
    relying_party: Option<RelyingParty>,
}

/// Each proof's origin from `verify_batch`'s `callers` and `requests` (one entry per proof
/// each, or absent: empty, all one request).
fn origins(callers: Option<Vec<u32>>, requests: Option<Vec<u32>>, proofs: usize) -> PyResult<Vec<Origin>> {
    for (name, given) in [("callers", &callers), ("requests", &requests)] {
        if let Some(v) = given.as_ref().filter(|v| v.len() != proofs) {
            return Err(PyValueError::new_err(format!(
                "{name} has {} entries for {proofs} proofs (one per proof)",
                v.len()
            )));
        }
    }
    if callers.is_none() && requests.is_none() {
        return Ok(Vec::new());
    }
    let (callers, requests) = (callers.unwrap_or_else(|| vec![0; proofs]), requests.unwrap_or_else(|| vec![0; proofs]));
    Ok(callers.into_iter().zip(requests).map(|(caller, request)| Origin { caller, request }).collect())
}

/// The current time, Unix ms, when the caller injects none.
fn clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[pymethods]
impl Verifier {
    #[new]
    #[pyo3(signature = (audience, *, max_age_ms = DEFAULT_MAX_AGE_MS, max_skew_ms = DEFAULT_MAX_SKEW_MS, limits = None, webauthn = None))]
    fn new(
        audience: String,
        max_age_ms: u64,
        max_skew_ms: u64,
        limits: Option<PyLimits>,
        webauthn: Option<PyRef<'_, PyRelyingParty>>,
    ) -> Self {
        Verifier {
            audience,
            max_age_ms,
            max_skew_ms,
            limits: limits.map_or(Limits::DEFAULT, |l| l.inner),
            relying_party: webauthn.map(|rp| rp.inner.clone()),
        }
    }

    #[getter]
    fn audience(&self) -> &str {
        &self.audience
    }
    #[getter]
    fn max_age_ms(&self) -> u64 {
        self.max_age_ms
    }
    #[getter]
    fn max_skew_ms(&self) -> u64 {
        self.max_skew_ms
    }
    #[getter]
    fn limits(&self) -> PyLimits {
        PyLimits { inner: self.limits }
    }
    #[getter]
    fn webauthn(&self) -> Option<PyRelyingParty> {
        self.relying_party.clone().map(|inner| PyRelyingParty { inner })
    }

    /// Verifies one proof; never raises for a bad proof, returns its reason.
    #[pyo3(signature = (proof, *, trusted_keys = None, resolver = None, now_ms = None))]
    fn verify<'py>(
        &self,
        py: Python<'py>,
        proof: &Bound<'py, PyAny>,
        trusted_keys: Option<&Bound<'py, PyAny>>,
        resolver: Option<Bound<'py, PyAny>>,
        now_ms: Option<u64>,
    ) -> PyResult<VerificationResult> {
        let trust = trust(trusted_keys, resolver)?;
        let policy = self.policy(now_ms);
        let input = gather(proof, self.limits.max_depth);
        let parsed = py.detach(|| parse(input, &self.limits));
        let proof = match parsed {
            Ok(p) => p,
            Err(e) => return Ok(result(Err(e), None, &policy)),
        };
        let rp = self.relying_party.as_ref();
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

    /// Verifies many proofs on all cores; one result per proof, in order, each
    /// what `verify` gives for it. The resolver is asked once per distinct subject.
    /// `callers` and `requests` (each one int per proof; a request's proofs adjacent) say
    /// who sent each proof: the verdicts are the same, but callers never share a batch
    /// equation and a failure is re-checked request by request before proof by proof.
    #[pyo3(signature = (proofs, *, trusted_keys = None, resolver = None, now_ms = None, callers = None, requests = None))]
    #[allow(clippy::too_many_arguments)] // the Python method's keyword arguments, one parameter each
    fn verify_batch<'py>(
        &self,
        py: Python<'py>,
        proofs: &Bound<'py, PyAny>,
        trusted_keys: Option<&Bound<'py, PyAny>>,
        resolver: Option<Bound<'py, PyAny>>,
        now_ms: Option<u64>,
        callers: Option<Vec<u32>>,
        requests: Option<Vec<u32>>,
    ) -> PyResult<Vec<VerificationResult>> {
        let trust = trust(trusted_keys, resolver)?;
        let policy = self.policy(now_ms);
        let limits = self.limits;
        let max_depth = limits.max_depth;
        let inputs: Vec<Input> =
            proofs.try_iter()?.map(|p| p.map(|p| gather(&p, max_depth))).collect::<PyResult<_>>()?;
        let origins = origins(callers, requests, inputs.len())?;
        let parsed: Vec<Result<Arc<AnyProof>, Error>> =
            py.detach(|| inputs.into_par_iter().map(|input| parse(input, &limits)).collect());

        let (fixed, resolved): (Option<&TrustSet>, Option<HashMap<&str, TrustSet>>) = match &trust {
            Trust::Fixed(set) => (Some(set), None),
            Trust::Resolver(resolver) => (None, Some(resolve(resolver, &parsed)?)),
        };
        let empty = TrustSet::default();
        let relying_party = self.relying_party.as_ref();
        let outcomes: Vec<Result<Verified, Error>> = py.detach(|| {
            // Items that failed before verification keep their error; the rest are batched.
            let mut outcomes: Vec<Option<Result<Verified, Error>>> = Vec::with_capacity(parsed.len());
            let mut items: Vec<Item<'_>> = Vec::with_capacity(parsed.len());
            let mut item_origins: Vec<Origin> = Vec::with_capacity(origins.len());
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
                        item_origins.extend(origins.get(index));
                        slots.push(index);
                        outcomes.push(None);
                    }
                    Err(e) => outcomes.push(Some(Err(e))),
                }
            }
            let verdicts = verify_requests_with(&items, &item_origins, &policy, relying_party);
            for (slot, verdict) in slots.into_iter().zip(verdicts) {
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

    fn __repr__(&self) -> String {
        format!(
            "Verifier(audience={:?}, max_age_ms={}, max_skew_ms={}, limits=Limits(max_bytes={}, max_depth={}), webauthn={})",
            self.audience,
            self.max_age_ms,
            self.max_skew_ms,
            self.limits.max_bytes,
            self.limits.max_depth,
            self.relying_party.as_ref().map_or("None".to_owned(), |rp| format!("RelyingParty(rp_id={:?})", rp.rp_id)),
        )
    }
}

impl Verifier {
    fn policy(&self, now_ms: Option<u64>) -> Policy {
        Policy {
            audience: self.audience.clone(),
            now_ms: now_ms.unwrap_or_else(clock_ms),
            max_age_ms: self.max_age_ms,
            max_skew_ms: self.max_skew_ms,
        }
    }
}

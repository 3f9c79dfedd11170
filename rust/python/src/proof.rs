//! The `Proof` class and `sign`.

use std::borrow::Cow;
use std::sync::Arc;

use proof_messenger_core::encoding::encode_base64url;
use proof_messenger_core::json::{Limits, Value};
use proof_messenger_core::proof::{AnyProof, Envelope};
use proof_messenger_core::{Error, ErrorCode};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use rayon::prelude::*;

use crate::convert::{is_mapping, object_to_python, string, to_python, to_value};
use crate::error::{py_error, to_py_err};
use crate::keys::{SigningKey, VerifyingKey};

/// A parsed, well-formed proof (Ed25519 or WebAuthn). Parsing does not
/// verify it: see `verify`.
#[pyclass(frozen, module = "proof_messenger")]
pub struct Proof {
    pub(crate) inner: Arc<AnyProof>,
}

#[pymethods]
impl Proof {
    /// Parses proof JSON (bytes or str) under the size and depth limits.
    #[staticmethod]
    #[pyo3(signature = (data, *, max_bytes = Limits::DEFAULT.max_bytes, max_depth = Limits::DEFAULT.max_depth))]
    fn from_json(py: Python<'_>, data: &Bound<'_, PyAny>, max_bytes: usize, max_depth: usize) -> PyResult<Proof> {
        let bytes = input_bytes(data).map_err(|e| to_py_err(py, &e))?;
        let limits = Limits { max_bytes, max_depth };
        py.detach(|| AnyProof::parse(&bytes, &limits))
            .map(|p| Proof { inner: Arc::new(p) })
            .map_err(|e| to_py_err(py, &e))
    }

    /// RFC 8785 canonical JSON of the whole proof.
    fn to_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_json())
    }

    /// The proof as a dict (ready for `json.dumps`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.to_value())
    }

    /// The context (a new dict on each access). Not verified by itself.
    #[getter]
    fn context<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        object_to_python(py, self.inner.envelope().context())
    }
    /// `context["subject"]`, if present.
    #[getter]
    fn subject(&self) -> Option<&str> {
        self.inner.envelope().subject()
    }
    /// The audience the proof is addressed to.
    #[getter]
    fn audience(&self) -> &str {
        self.inner.envelope().audience()
    }
    /// The nonce (base64url), the replay-protection key.
    #[getter]
    fn nonce(&self) -> &str {
        self.inner.envelope().nonce()
    }
    /// Signing time, Unix milliseconds.
    #[getter]
    fn timestamp_ms(&self) -> u64 {
        self.inner.envelope().timestamp_ms()
    }
    /// "Ed25519" or "WebAuthn".
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.inner.envelope().algorithm().as_str()
    }
    /// Key id: the carried Ed25519 key's thumbprint (not trusted by itself),
    /// or the WebAuthn credential id (base64url).
    #[getter]
    fn key_id(&self) -> String {
        self.inner.key_id()
    }
    /// The carried Ed25519 public key, validated (raises for an invalid or
    /// weak key); None for a WebAuthn proof, whose key is the registered one.
    #[getter]
    fn public_key(&self, py: Python<'_>) -> PyResult<Option<VerifyingKey>> {
        match self.inner.as_ref() {
            AnyProof::Ed25519(p) => proof_messenger_core::ed25519::PublicKey::from_bytes(p.public_key())
                .map(|inner| Some(VerifyingKey { inner }))
                .map_err(|e| to_py_err(py, &e)),
            AnyProof::WebAuthn(_) => Ok(None),
        }
    }
    /// The WebAuthn credential id; None for an Ed25519 proof.
    #[getter]
    fn credential_id<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        match self.inner.as_ref() {
            AnyProof::WebAuthn(p) => Some(PyBytes::new(py, p.assertion().credential_id())),
            AnyProof::Ed25519(_) => None,
        }
    }
    /// The signature: 64 bytes for Ed25519; the assertion signature for WebAuthn.
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        match self.inner.as_ref() {
            AnyProof::Ed25519(p) => PyBytes::new(py, p.signature()),
            AnyProof::WebAuthn(p) => PyBytes::new(py, p.assertion().signature()),
        }
    }
    /// SHA-256 of the canonical context.
    #[getter]
    fn context_digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.envelope().context_digest())
    }
    /// The exact v1 signing payload.
    #[getter]
    fn signing_payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.envelope().signing_payload())
    }
    /// SHA-256 of the signing payload: the bytes the key signed (for
    /// WebAuthn, the challenge).
    #[getter]
    fn signed_digest<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.envelope().signed_digest())
    }

    fn __repr__(&self) -> String {
        let e = self.inner.envelope();
        format!(
            "Proof(key_id={:?}, audience={:?}, nonce={:?}, timestamp_ms={})",
            self.inner.key_id(),
            e.audience(),
            e.nonce(),
            e.timestamp_ms()
        )
    }
}

/// Parses many proofs at once, on all cores with the GIL released: for each
/// item (bytes or str), the `Proof` or the `ProofMessengerError` that
/// `Proof.from_json` would raise. The relay parses a request group with one call.
#[pyfunction]
#[pyo3(signature = (items, *, max_bytes = Limits::DEFAULT.max_bytes, max_depth = Limits::DEFAULT.max_depth))]
pub fn parse_proofs<'py>(
    py: Python<'py>,
    items: &Bound<'py, PyAny>,
    max_bytes: usize,
    max_depth: usize,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let items: Vec<Bound<'py, PyAny>> = items.try_iter()?.collect::<PyResult<_>>()?;
    // Bytes are borrowed, not copied: the list keeps them alive and they are immutable.
    let inputs: Vec<Result<Cow<'_, [u8]>, Error>> = items
        .iter()
        .map(|item| match item.cast::<PyBytes>() {
            Ok(b) => Ok(Cow::Borrowed(b.as_bytes())),
            Err(_) => input_bytes(item).map(Cow::Owned),
        })
        .collect();
    let limits = Limits { max_bytes, max_depth };
    let parsed: Vec<Result<AnyProof, Error>> = py.detach(|| {
        inputs
            .par_iter()
            .map(|input| input.as_ref().map_err(Clone::clone).and_then(|b| AnyProof::parse(b, &limits)))
            .collect()
    });
    parsed
        .into_iter()
        .map(|outcome| match outcome {
            Ok(p) => Ok(Bound::new(py, Proof { inner: Arc::new(p) })?.into_any()),
            Err(e) => Ok(to_py_err(py, &e).into_value(py).into_bound(py).into_any()),
        })
        .collect()
}

/// Copies bytes/bytearray/memoryview/str input (while the GIL is held).
pub fn input_bytes(data: &Bound<'_, PyAny>) -> Result<Vec<u8>, Error> {
    if let Ok(s) = data.cast::<PyString>() {
        return s
            .to_str()
            .map(|s| s.as_bytes().to_vec())
            .map_err(|_| Error::new(ErrorCode::LoneSurrogate, "proof text contains a lone surrogate"));
    }
    data.extract::<Vec<u8>>()
        .or_else(|_| data.call_method0("__bytes__").and_then(|b| b.extract::<Vec<u8>>()))
        .map_err(|_| Error::new(ErrorCode::InvalidType, "expected bytes, str, dict or Proof"))
}

/// Signs a context for an audience (the Python wrapper supplies the clock).
#[pyfunction]
#[pyo3(signature = (context, key, *, audience, timestamp_ms, nonce = None, max_bytes = Limits::DEFAULT.max_bytes, max_depth = Limits::DEFAULT.max_depth))]
#[allow(clippy::too_many_arguments)]
pub fn sign(
    py: Python<'_>,
    context: &Bound<'_, PyAny>,
    key: &SigningKey,
    audience: &Bound<'_, PyString>,
    timestamp_ms: i128,
    nonce: Option<&Bound<'_, PyString>>,
    max_bytes: usize,
    max_depth: usize,
) -> PyResult<Proof> {
    let audience = string(audience).map_err(|e| to_py_err(py, &e))?;
    let nonce = nonce.map(string).transpose().map_err(|e| to_py_err(py, &e))?;
    // Out of u64: still out of 0..=2^53-1, which the envelope reports in its order.
    let timestamp_ms = u64::try_from(timestamp_ms).unwrap_or(u64::MAX);
    if !context.is_instance_of::<PyDict>() && !is_mapping(context) {
        return Err(py_error(py, ErrorCode::InvalidType, "context must be a mapping"));
    }
    // The proof object wraps the context: one level of the depth budget is the proof's.
    let value = to_value(context, max_depth.saturating_sub(1)).map_err(|e| to_py_err(py, &e))?;
    let Value::Object(object) = value else {
        return Err(py_error(py, ErrorCode::InvalidType, "context must be a mapping"));
    };
    let nonce = match nonce {
        Some(n) => n,
        None => {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("no OS randomness: {e}")))?;
            encode_base64url(&bytes)
        }
    };
    let envelope = Envelope::new(object, audience, timestamp_ms, &nonce).map_err(|e| to_py_err(py, &e))?;
    let proof = envelope.sign(&key.inner);
    let size = proof.to_json().len();
    if size > max_bytes {
        return Err(py_error(
            py,
            ErrorCode::InputTooLarge,
            format!("the proof would be {size} bytes, over max_bytes={max_bytes}"),
        ));
    }
    Ok(Proof { inner: Arc::new(AnyProof::Ed25519(proof)) })
}

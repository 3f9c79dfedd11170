//! The relay's `Decision`: its verdict on one proof, as the event, audit and
//! HTTP layers see it (`proof_messenger.relay.decision` re-exports it).
//!
//! It is a native class so that a request group's decisions go from the core's
//! results to the three writers (`render.rs`: audit entries, decision-log
//! lines, verdicts) without a Python object per field: `from_results` builds a
//! group's decisions in one call, and the writers read the fields in place.
//! Python code sees ordinary attributes (read and written like a dataclass's).
//! It never carries secrets: no signature, no credentials.
use std::fmt::Write as _;

use proof_messenger_core::encoding::encode_base64url;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::verify::VerificationResult;

#[pyclass(module = "proof_messenger.relay.decision", name = "Decision")]
pub struct Decision {
    #[pyo3(get, set)]
    pub valid: bool,
    /// The reason code when not valid.
    #[pyo3(get, set)]
    pub code: Option<String>,
    #[pyo3(get, set)]
    pub detail: Option<String>,
    /// The audience the relay expected (the client's).
    #[pyo3(get, set)]
    pub audience: String,
    #[pyo3(get, set)]
    pub decided_at_ms: i64,
    #[pyo3(get, set)]
    pub client_id: Option<String>,
    #[pyo3(get, set)]
    pub subject: Option<String>,
    /// RFC 7638 thumbprint of the proof's key (a WebAuthn credential id).
    #[pyo3(get, set)]
    pub key_id: Option<String>,
    /// The registry row that vouched for the key.
    #[pyo3(get, set)]
    pub enrollment_id: Option<String>,
    #[pyo3(get, set)]
    pub nonce: Option<String>,
    #[pyo3(get, set)]
    pub timestamp_ms: Option<i64>,
    /// The verified context as a dict, when given so (else read from `result`).
    context: Option<Py<PyAny>>,
    pub context_digest: Option<Vec<u8>>,
    /// SHA-256 of the signed payload (ties a receipt to exact bytes).
    pub signed_digest: Option<Vec<u8>>,
    #[pyo3(get, set)]
    pub receipt_id: Option<String>,
    /// The audit log's receipt (checkpoint attached before answering).
    #[pyo3(get, set)]
    pub receipt: Option<Py<PyAny>>,
    /// The proof's algorithm, when known.
    #[pyo3(get, set)]
    pub algorithm: Option<String>,
    /// The core's result for a valid proof: the context is read from it on demand.
    #[pyo3(get, set)]
    pub result: Option<Py<VerificationResult>>,
}

fn bytes_or_none<'py>(py: Python<'py>, data: Option<&[u8]>) -> Option<Bound<'py, PyBytes>> {
    data.map(|d| PyBytes::new(py, d))
}

#[pymethods]
impl Decision {
    #[new]
    #[pyo3(signature = (
        valid, code, detail, audience, decided_at_ms, client_id, subject = None, key_id = None,
        enrollment_id = None, nonce = None, timestamp_ms = None, context = None, context_digest = None,
        signed_digest = None, receipt_id = None, receipt = None, algorithm = None, result = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        valid: bool,
        code: Option<String>,
        detail: Option<String>,
        audience: String,
        decided_at_ms: i64,
        client_id: Option<String>,
        subject: Option<String>,
        key_id: Option<String>,
        enrollment_id: Option<String>,
        nonce: Option<String>,
        timestamp_ms: Option<i64>,
        context: Option<Bound<'_, PyDict>>,
        context_digest: Option<Vec<u8>>,
        signed_digest: Option<Vec<u8>>,
        receipt_id: Option<String>,
        receipt: Option<Py<PyAny>>,
        algorithm: Option<String>,
        result: Option<Py<VerificationResult>>,
    ) -> Self {
        Self {
            valid,
            code,
            detail,
            audience,
            decided_at_ms,
            client_id,
            subject,
            key_id,
            enrollment_id,
            nonce,
            timestamp_ms,
            context: context.map(|c| c.into_any().unbind()),
            context_digest,
            signed_digest,
            receipt_id,
            receipt,
            algorithm,
            result,
        }
    }

    /// A group's decisions from the core's results, in one call.
    ///
    /// `owners[k]` is the API client (`.audience`, `.id`) that asked for
    /// `results[k]`. A valid result is accepted unless `refused` maps its index
    /// to a code (replay, WebAuthn counter), with the detail `details[code]`;
    /// its enrollment id is the `.id` of the record in `enrolled[subject]` whose
    /// `.key_id` is the result's. An invalid result keeps the core's code.
    #[staticmethod]
    #[pyo3(signature = (results, owners, *, now_ms, refused, details, enrolled))]
    fn from_results(
        results: Vec<Bound<'_, VerificationResult>>,
        owners: Vec<Bound<'_, PyAny>>,
        now_ms: i64,
        refused: &Bound<'_, PyDict>,
        details: &Bound<'_, PyDict>,
        enrolled: &Bound<'_, PyDict>,
    ) -> PyResult<Vec<Self>> {
        if results.len() != owners.len() {
            return Err(PyTypeError::new_err("results and owners differ in length"));
        }
        let py = refused.py();
        let mut out = Vec::with_capacity(results.len());
        let mut last_owner: Option<(&Bound<'_, PyAny>, String, String)> = None;
        for (k, (res, owner)) in results.iter().zip(&owners).enumerate() {
            // A group's proofs mostly share one client: read its strings once.
            let (audience, client_id) = match &last_owner {
                Some((prev, audience, id)) if prev.is(owner) => (audience.clone(), id.clone()),
                _ => {
                    let audience: String = owner.getattr(intern!(py, "audience"))?.extract()?;
                    let id: String = owner.getattr(intern!(py, "id"))?.extract()?;
                    last_owner = Some((owner, audience.clone(), id.clone()));
                    (audience, id)
                }
            };
            let r = res.get();
            let proof = r.parsed();
            let subject = proof.and_then(|p| p.envelope().subject()).map(str::to_owned);
            let key_id = proof.map(|p| p.key_id());
            let (valid, code, detail, enrollment_id) = if r.is_valid() {
                let refusal: Option<String> = refused.get_item(k)?.map(|c| c.extract()).transpose()?;
                let detail = match &refusal {
                    Some(code) => details.get_item(code)?.map(|d| d.extract()).transpose()?,
                    None => None,
                };
                let enrollment = enrollment_of(enrolled, subject.as_deref(), key_id.as_deref())?;
                (refusal.is_none(), refusal, detail, enrollment)
            } else {
                (false, r.error_code().map(str::to_owned), r.error_detail().map(str::to_owned), None)
            };
            out.push(Self {
                valid,
                code,
                detail,
                audience,
                decided_at_ms: now_ms,
                client_id: Some(client_id),
                subject,
                key_id,
                enrollment_id,
                nonce: proof.map(|p| p.envelope().nonce().to_owned()),
                timestamp_ms: proof.map(|p| timestamp(p.envelope().timestamp_ms())).transpose()?,
                context: None,
                context_digest: proof.map(|p| p.envelope().context_digest().to_vec()),
                signed_digest: proof.map(|p| p.envelope().signed_digest().to_vec()),
                receipt_id: None,
                receipt: None,
                algorithm: proof.map(|p| p.envelope().algorithm().as_str().to_owned()),
                result: if valid { Some(res.clone().unbind()) } else { None },
            });
        }
        Ok(out)
    }

    /// Each decision's receipt and receipt id, from `receipts` (same order).
    #[staticmethod]
    fn attach_receipts(decisions: Vec<Bound<'_, Decision>>, receipts: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        if decisions.len() != receipts.len() {
            return Err(PyTypeError::new_err("decisions and receipts differ in length"));
        }
        for (d, receipt) in decisions.iter().zip(receipts) {
            let id: String = receipt.getattr(intern!(d.py(), "receipt_id"))?.extract()?;
            let mut d = d.borrow_mut();
            d.receipt_id = Some(id);
            d.receipt = Some(receipt.unbind());
        }
        Ok(())
    }

    #[getter(context)]
    fn get_context<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.context.as_ref().map(|c| c.bind(py).clone())
    }

    #[setter(context)]
    fn set_context(&mut self, context: Option<Bound<'_, PyDict>>) {
        self.context = context.map(|c| c.into_any().unbind());
    }

    #[getter(context_digest)]
    fn get_context_digest<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        bytes_or_none(py, self.context_digest.as_deref())
    }

    #[setter(context_digest)]
    fn set_context_digest(&mut self, digest: Option<Vec<u8>>) {
        self.context_digest = digest;
    }

    #[getter(signed_digest)]
    fn get_signed_digest<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        bytes_or_none(py, self.signed_digest.as_deref())
    }

    #[setter(signed_digest)]
    fn set_signed_digest(&mut self, digest: Option<Vec<u8>>) {
        self.signed_digest = digest;
    }

    /// The context digest, base64url (as the verdict, the event and the audit entry print it).
    #[getter]
    fn context_digest_b64(&self) -> Option<String> {
        self.context_digest.as_deref().map(encode_base64url)
    }

    /// The verified context as a dict (`context`, or read once from `result`).
    fn context_value<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.ensure_context(py)
    }

    /// The verified context's RFC 8785 canonical JSON (the bytes its digest is of).
    fn context_json<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut out = Vec::new();
        Ok(self.write_context_json(py, &mut out)?.then(|| PyBytes::new(py, &out)))
    }

    /// The HTTP response object for this decision (see `Receipt.to_dict` for `compact_receipt`).
    #[pyo3(signature = (*, compact_receipt = false))]
    fn verdict<'py>(&mut self, py: Python<'py>, compact_receipt: bool) -> PyResult<Bound<'py, PyDict>> {
        let context = self.ensure_context(py)?;
        let receipt = match &self.receipt {
            None => None,
            Some(r) => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("compact", compact_receipt)?;
                Some(r.bind(py).call_method(intern!(py, "to_dict"), (), Some(&kwargs))?)
            }
        };
        let out = PyDict::new(py);
        out.set_item("valid", self.valid)?;
        out.set_item("code", &self.code)?;
        out.set_item("detail", &self.detail)?;
        out.set_item("subject", &self.subject)?;
        out.set_item("keyId", &self.key_id)?;
        out.set_item("enrollmentId", &self.enrollment_id)?;
        out.set_item("audience", &self.audience)?;
        out.set_item("nonce", &self.nonce)?;
        out.set_item("timestamp", self.timestamp_ms)?;
        out.set_item("context", context)?;
        out.set_item("contextDigest", self.context_digest_b64())?;
        out.set_item("receiptId", &self.receipt_id)?;
        out.set_item("receipt", receipt)?;
        Ok(out)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = |s: &str| PyString::new(py, s).repr().map(|r| r.to_string());
        let mut s = format!("Decision(valid={}", if self.valid { "True" } else { "False" });
        let fields = [
            ("code", &self.code),
            ("subject", &self.subject),
            ("key_id", &self.key_id),
            ("client_id", &self.client_id),
            ("receipt_id", &self.receipt_id),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                let _ = write!(s, ", {name}={}", r(v)?);
            }
        }
        let _ = write!(s, ", audience={})", r(&self.audience)?);
        Ok(s)
    }
}

impl Decision {
    /// `context`, read once from `result` when not set.
    fn ensure_context<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if self.context.is_none() {
            if let Some(result) = &self.result {
                self.context = result.get().context_dict(py)?.map(|c| c.into_any().unbind());
            }
        }
        Ok(self.get_context(py))
    }

    /// Appends the verified context's canonical JSON to `out`; false when there is none.
    pub(crate) fn write_context_json(&self, py: Python<'_>, out: &mut Vec<u8>) -> PyResult<bool> {
        if let Some(result) = &self.result {
            if let Some(json) = result.get().canonical_context_bytes() {
                out.extend_from_slice(json);
                return Ok(true);
            }
        }
        match &self.context {
            None => Ok(false),
            Some(context) => {
                out.extend_from_slice(&crate::canonical_bytes(py, context.bind(py), crate::DEFAULT_MAX_DEPTH)?);
                Ok(true)
            }
        }
    }
}

/// The id of the record in `enrolled[subject]` (KeyRecords) with this key id.
fn enrollment_of(
    enrolled: &Bound<'_, PyDict>,
    subject: Option<&str>,
    key_id: Option<&str>,
) -> PyResult<Option<String>> {
    let (Some(subject), Some(key_id)) = (subject, key_id) else { return Ok(None) };
    let Some(records) = enrolled.get_item(subject)? else { return Ok(None) };
    let py = enrolled.py();
    for record in records.try_iter()? {
        let record = record?;
        let rec_key: String = record.getattr(intern!(py, "key_id"))?.extract()?;
        if rec_key == key_id {
            return Ok(Some(record.getattr(intern!(py, "id"))?.extract()?));
        }
    }
    Ok(None)
}

/// A proof timestamp (at most 2^53 - 1 ms: the core checks) as an i64.
fn timestamp(ms: u64) -> PyResult<i64> {
    i64::try_from(ms).map_err(|_| pyo3::exceptions::PyOverflowError::new_err("timestamp out of range"))
}

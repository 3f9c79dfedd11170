//! `Decision` and the functions that make decisions and attach receipts.
use std::collections::HashMap;
use std::fmt::Write as _;

use proof_messenger_core::encoding::encode_base64url;
use proof_messenger_core::json::{parse, Limits, Value};
use proof_messenger_relay::{Context, Owner as RelayOwner, Receipt, Refusal};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::value_error;
use crate::convert::{object_to_python, to_value};
use crate::error::to_py_err;
use crate::proof::Proof;
use crate::verify::VerificationResult;

/// The relay's verdict on one proof (`proof_messenger.relay.engine` makes
/// them; the record writers of this module write them). Read-only.
#[pyclass(module = "proof_messenger._core.relay", name = "Decision")]
pub struct Decision {
    pub(crate) inner: proof_messenger_relay::Decision,
}

impl Decision {
    fn new_inner(inner: proof_messenger_relay::Decision) -> Decision {
        Decision { inner }
    }

    /// The decision (receipts are attached through `attach_receipts` / `complete_receipts`).
    pub(crate) fn read(&self) -> &proof_messenger_relay::Decision {
        &self.inner
    }
}

/// An API client as the relay needs it (an `ApiClient`, or anything with these attributes).
#[derive(FromPyObject)]
pub struct Owner {
    id: String,
    audience: String,
}

impl From<Owner> for RelayOwner {
    fn from(o: Owner) -> RelayOwner {
        RelayOwner { id: o.id, audience: o.audience }
    }
}

/// An enrolled key as the relay needs it (a `KeyRecord`: its enrollment id and key id).
#[derive(FromPyObject)]
struct EnrolledKey {
    id: String,
    key_id: String,
}

/// The owner of item `k`, by its index into `owners`.
pub(crate) fn owner_at<'a>(owners: &'a [RelayOwner], owner_of: &[usize], k: usize) -> PyResult<&'a RelayOwner> {
    owner_of
        .get(k)
        .and_then(|&o| owners.get(o))
        .ok_or_else(|| value_error(proof_messenger_relay::RecordError::IndexOutOfRange(k)))
}

/// The decisions on the proofs the core verified, in order.
///
/// `owners` are the distinct API clients of the group and `owner_of[k]` the
/// index of `results[k]`'s; `refused` maps the index of an accepted result to
/// the relay's refusal code (replay, challenge, WebAuthn counter); `enrolled`
/// maps a subject to its enrolled keys (`KeyRecord`s), whose `id` an accepted
/// Ed25519 proof's decision names.
#[pyfunction]
#[pyo3(signature = (results, owners, owner_of, *, now_ms, refused, enrolled))]
pub fn decide(
    results: Vec<PyRef<'_, VerificationResult>>,
    owners: Vec<Owner>,
    owner_of: Vec<usize>,
    now_ms: i64,
    refused: HashMap<usize, String>,
    enrolled: &Bound<'_, PyDict>,
) -> PyResult<Vec<Decision>> {
    let owners: Vec<RelayOwner> = owners.into_iter().map(Into::into).collect();
    if owner_of.len() != results.len() {
        return Err(value_error(proof_messenger_relay::RecordError::LengthMismatch {
            what: "owner_of",
            expected: results.len(),
            got: owner_of.len(),
        }));
    }
    let mut out = Vec::with_capacity(results.len());
    for (k, r) in results.iter().enumerate() {
        let owner = owner_at(&owners, &owner_of, k)?;
        let Some(proof) = r.proof_arc() else {
            // A result without a proof never reaches the core's verification (a parse error).
            let code = r.error_code().unwrap_or("invalid_json");
            out.push(Decision::new_inner(proof_messenger_relay::Decision::unverified(
                None,
                code,
                r.error_detail().unwrap_or_default(),
                owner,
                now_ms,
            )));
            continue;
        };
        let refusal = refused.get(&k).map(|code| Refusal::from_code(code)).transpose().map_err(value_error)?;
        let lookup = |subject: Option<&str>, key_id: &str| enrollment_of(enrolled, subject, key_id);
        let d = proof_messenger_relay::Decision::verified(proof, r.verdict(), refusal, owner, now_ms, lookup)?;
        out.push(Decision::new_inner(d));
    }
    Ok(out)
}

/// The id of the key in `enrolled[subject]` whose key id is `key_id`.
fn enrollment_of(enrolled: &Bound<'_, PyDict>, subject: Option<&str>, key_id: &str) -> PyResult<Option<String>> {
    let Some(subject) = subject else { return Ok(None) };
    let Some(records) = enrolled.get_item(subject)? else { return Ok(None) };
    for record in records.try_iter()? {
        let key: EnrolledKey = record?.extract()?;
        if key.key_id == key_id {
            return Ok(Some(key.id));
        }
    }
    Ok(None)
}

/// The decision on a proof the relay did not verify: a batch line that did
/// not parse (`proof` is None; `code` and `detail` are the core's), or a
/// proof whose subject is over its rate limit (`code` "rate_limited"; the
/// detail of a relay refusal code is the relay crate's when not given).
#[pyfunction]
#[pyo3(signature = (owner, code, detail = None, proof = None, *, now_ms))]
pub fn refuse(
    owner: Owner,
    code: &str,
    detail: Option<&str>,
    proof: Option<PyRef<'_, Proof>>,
    now_ms: i64,
) -> PyResult<Decision> {
    let owner: RelayOwner = owner.into();
    let detail = match detail {
        Some(d) => d,
        None => Refusal::from_code(code).map_err(value_error)?.detail(),
    };
    Ok(Decision::new_inner(proof_messenger_relay::Decision::unverified(
        proof.as_deref().map(|p| p.inner.as_ref()),
        code,
        detail,
        &owner,
        now_ms,
    )))
}

/// Gives each decision its receipt: entry `first_index + k` of the log
/// (`log_id`, `origin`), with its leaf hash and entry bytes.
#[pyfunction]
pub fn attach_receipts(
    mut decisions: Vec<PyRefMut<'_, Decision>>,
    log_id: &str,
    origin: &str,
    first_index: u64,
    leaf_hashes: Vec<Vec<u8>>,
    entries: Vec<Vec<u8>>,
) -> PyResult<()> {
    for (what, got) in [("leaf_hashes", leaf_hashes.len()), ("entries", entries.len())] {
        if got != decisions.len() {
            return Err(value_error(proof_messenger_relay::RecordError::LengthMismatch {
                what,
                expected: decisions.len(),
                got,
            }));
        }
    }
    for (k, ((d, leaf_hash), entry)) in decisions.iter_mut().zip(leaf_hashes).zip(entries).enumerate() {
        let index = first_index + k as u64;
        d.inner.receipt = Some(Receipt {
            receipt_id: proof_messenger_relay::audit_entry::receipt_id(log_id, index),
            origin: origin.to_owned(),
            index,
            leaf_hash,
            entry,
            checkpoint: None,
            inclusion_proof: None,
        });
    }
    Ok(())
}

/// Completes the receipts of entries the checkpoint covers (index < `size`)
/// with the signed checkpoint and, if given, each one's inclusion proof
/// (`proofs[k]` for `decisions[k]`; None where not wanted).
#[pyfunction]
#[pyo3(signature = (decisions, checkpoint, size, proofs = None))]
pub fn complete_receipts(
    mut decisions: Vec<PyRefMut<'_, Decision>>,
    checkpoint: &str,
    size: u64,
    proofs: Option<Vec<Option<Vec<Vec<u8>>>>>,
) -> PyResult<()> {
    if let Some(p) = &proofs {
        if p.len() != decisions.len() {
            return Err(value_error(proof_messenger_relay::RecordError::LengthMismatch {
                what: "proofs",
                expected: decisions.len(),
                got: p.len(),
            }));
        }
    }
    let mut proofs = proofs.map(Vec::into_iter);
    for d in &mut decisions {
        let proof = proofs.as_mut().and_then(Iterator::next).flatten();
        if let Some(r) = d.inner.receipt.as_mut().filter(|r| r.index < size) {
            r.checkpoint = Some(checkpoint.to_owned());
            r.inclusion_proof = proof;
        }
    }
    Ok(())
}

fn opt_bytes<'py>(py: Python<'py>, data: Option<&[u8]>) -> Option<Bound<'py, PyBytes>> {
    data.map(|d| PyBytes::new(py, d))
}

#[pymethods]
impl Decision {
    /// A decision from its fields (tests and tools; the relay makes them with
    /// `decide` and `refuse`). `context` is the verified context (a mapping).
    #[new]
    #[pyo3(signature = (
        valid, code, detail, audience, decided_at_ms, client_id, *, subject = None, key_id = None,
        enrollment_id = None, nonce = None, timestamp_ms = None, context = None, context_digest = None,
        signed_digest = None, algorithm = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        py: Python<'_>,
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
        context: Option<Bound<'_, PyAny>>,
        context_digest: Option<Vec<u8>>,
        signed_digest: Option<Vec<u8>>,
        algorithm: Option<String>,
    ) -> PyResult<Decision> {
        let context = match context {
            None => None,
            Some(c) => {
                let value = to_value(&c, Limits::DEFAULT.max_depth).map_err(|e| to_py_err(py, &e))?;
                Some(Context::Canonical(proof_messenger_core::canonical::canonicalize(&value)))
            }
        };
        Ok(Decision::new_inner(proof_messenger_relay::Decision {
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
            context,
            context_digest,
            signed_digest,
            algorithm,
            receipt: None,
        }))
    }

    #[getter]
    fn valid(&self) -> bool {
        self.read().valid
    }
    /// The reason code when not valid.
    #[getter]
    fn code(&self) -> Option<String> {
        self.read().code.clone()
    }
    #[getter]
    fn detail(&self) -> Option<String> {
        self.read().detail.clone()
    }
    /// The audience the relay required (the client's).
    #[getter]
    fn audience(&self) -> String {
        self.read().audience.clone()
    }
    #[getter]
    fn decided_at_ms(&self) -> i64 {
        self.read().decided_at_ms
    }
    #[getter]
    fn client_id(&self) -> Option<String> {
        self.read().client_id.clone()
    }
    #[getter]
    fn subject(&self) -> Option<String> {
        self.read().subject.clone()
    }
    /// RFC 7638 thumbprint of the proof's key (a WebAuthn credential id).
    #[getter]
    fn key_id(&self) -> Option<String> {
        self.read().key_id.clone()
    }
    /// The registry row that vouched for the key.
    #[getter]
    fn enrollment_id(&self) -> Option<String> {
        self.read().enrollment_id.clone()
    }
    #[getter]
    fn nonce(&self) -> Option<String> {
        self.read().nonce.clone()
    }
    #[getter]
    fn timestamp_ms(&self) -> Option<i64> {
        self.read().timestamp_ms
    }
    #[getter]
    fn algorithm(&self) -> Option<String> {
        self.read().algorithm.clone()
    }
    #[getter]
    fn context_digest<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes(py, self.read().context_digest.as_deref())
    }
    /// The context digest, base64url (as the verdict, the event and the audit entry print it).
    #[getter]
    fn context_digest_b64(&self) -> Option<String> {
        self.read().context_digest.as_deref().map(encode_base64url)
    }
    /// SHA-256 of the signed payload.
    #[getter]
    fn signed_digest<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes(py, self.read().signed_digest.as_deref())
    }
    /// The verified context as a new dict (accepted proofs only).
    #[getter]
    fn context<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let d = self.read();
        match &d.context {
            None => Ok(None),
            Some(Context::Proof(proof)) => object_to_python(py, proof.envelope().context()).map(Some),
            Some(Context::Canonical(json)) => match parse(json, &Limits { max_bytes: json.len(), max_depth: 128 }) {
                Ok(Value::Object(object)) => object_to_python(py, &object).map(Some),
                Ok(_) => Err(pyo3::exceptions::PyValueError::new_err("the context is not an object")),
                Err(e) => Err(to_py_err(py, &e)),
            },
        }
    }
    /// The verified context's RFC 8785 canonical JSON (the bytes its digest is of).
    fn context_json<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        opt_bytes(py, self.read().context_json())
    }
    /// The audit receipt's id, once the decision is logged.
    #[getter]
    fn receipt_id(&self) -> Option<String> {
        self.read().receipt_id().map(str::to_owned)
    }
    /// The audit log entry's index, once logged.
    #[getter]
    fn receipt_index(&self) -> Option<u64> {
        self.read().receipt.as_ref().map(|r| r.index)
    }
    /// The signed checkpoint attached to the receipt (full receipts).
    #[getter]
    fn receipt_checkpoint(&self) -> Option<String> {
        self.read().receipt.as_ref().and_then(|r| r.checkpoint.clone())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let d = self.read();
        let r = |s: &str| PyString::new(py, s).repr().map(|r| r.to_string());
        let mut s = format!("Decision(valid={}", if d.valid { "True" } else { "False" });
        let receipt_id = d.receipt_id().map(str::to_owned);
        let fields = [
            ("code", &d.code),
            ("subject", &d.subject),
            ("key_id", &d.key_id),
            ("client_id", &d.client_id),
            ("receipt_id", &receipt_id),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                let _ = write!(s, ", {name}={}", r(v)?);
            }
        }
        let _ = write!(s, ", audience={})", r(&d.audience)?);
        Ok(s)
    }
}

//! The record writers: audit entries, decision-log lines, verdicts (one writer per format,
//! in the relay crate; these functions only convert).
use proof_messenger_relay::audit_entry::{write_entry, Entry, Sealed};
use proof_messenger_relay::decision_line::write_decision_line;
use proof_messenger_relay::verdict::{write_batch_body, write_verdict, ReceiptForm};
use proof_messenger_relay::RecordError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::decision::Decision;
use super::value_error;

/// A sealed context as the audit log's keyring makes it: `{"alg", "kid", "nonce", "ct"}`.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct SealedIn {
    alg: String,
    kid: String,
    nonce: String,
    ct: String,
}

fn sealed_at(sealed: Option<&[Option<SealedIn>]>, k: usize, n: usize) -> PyResult<Option<Sealed<'_>>> {
    match sealed {
        None => Ok(None),
        Some(s) if s.len() != n => {
            Err(value_error(RecordError::LengthMismatch { what: "sealed", expected: n, got: s.len() }))
        }
        Some(s) => Ok(s.get(k).and_then(Option::as_ref).map(|s| Sealed {
            alg: &s.alg,
            kid: &s.kid,
            nonce: &s.nonce,
            ct: &s.ct,
        })),
    }
}

/// The audit-log entries of `decisions`, numbered from `first_index` in the log
/// `log_id`; `sealed[k]` is decision k's sealed context, if any.
#[pyfunction]
#[pyo3(signature = (decisions, first_index, log_id, sealed = None))]
pub fn audit_entries<'py>(
    py: Python<'py>,
    decisions: Vec<PyRef<'py, Decision>>,
    first_index: u64,
    log_id: &str,
    sealed: Option<Vec<Option<SealedIn>>>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut out = Vec::with_capacity(decisions.len());
    let mut buf = Vec::with_capacity(512);
    let mut hex = String::with_capacity(64);
    for (k, d) in decisions.iter().enumerate() {
        let seal = sealed_at(sealed.as_deref(), k, decisions.len())?;
        write_entry(&Entry::of(d.read(), &mut hex), first_index + k as u64, log_id, seal.as_ref(), &mut buf)
            .map_err(value_error)?;
        out.push(PyBytes::new(py, &buf));
    }
    Ok(out)
}

/// Audit-log entries of `AuditRecord`s (`proof_messenger.auditlog`), numbered
/// from `first_index` in the log `log_id`; `sealed[k]` is record k's sealed context.
///
/// An `AuditRecord` is a named tuple: time, decision, reason, audience, client,
/// subject, key id, algorithm, signed digest (hex) and the context (sealed by
/// the caller, never written here).
// The context (the last field) is sealed by the caller, never read here.
#[derive(FromPyObject)]
#[allow(dead_code)]
struct Record<'py>(
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Bound<'py, PyAny>,
);

#[pyfunction]
#[pyo3(signature = (records, first_index, log_id, sealed = None))]
pub fn record_entries<'py>(
    py: Python<'py>,
    records: Vec<Bound<'py, PyAny>>,
    first_index: u64,
    log_id: &str,
    sealed: Option<Vec<Option<SealedIn>>>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut out = Vec::with_capacity(records.len());
    let mut buf = Vec::with_capacity(512);
    for (k, record) in records.iter().enumerate() {
        let Record(time_ms, decision, reason, audience, client, subject, key_id, algorithm, signed_digest, _) =
            record.extract()?;
        let accepted = match decision.as_str() {
            "accepted" => true,
            "rejected" => false,
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "decision must be 'accepted' or 'rejected', not {other:?}"
                )))
            }
        };
        let entry = Entry {
            time_ms,
            accepted,
            reason: reason.as_deref(),
            audience: audience.as_deref(),
            client: client.as_deref(),
            subject: subject.as_deref(),
            key_id: key_id.as_deref(),
            algorithm: algorithm.as_deref(),
            signed_digest: signed_digest.as_deref(),
        };
        let seal = sealed_at(sealed.as_deref(), k, records.len())?;
        write_entry(&entry, first_index + k as u64, log_id, seal.as_ref(), &mut buf).map_err(value_error)?;
        out.push(PyBytes::new(py, &buf));
    }
    Ok(out)
}

/// Decision-log lines (no newline) of `decisions`; with `with_context`, an
/// accepted decision's line also carries its canonical context.
#[pyfunction]
#[pyo3(signature = (decisions, request_id, remote_addr, *, with_context = false))]
pub fn decision_lines<'py>(
    py: Python<'py>,
    decisions: Vec<PyRef<'py, Decision>>,
    request_id: Option<&str>,
    remote_addr: Option<&str>,
    with_context: bool,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut out = Vec::with_capacity(decisions.len());
    let mut buf = Vec::with_capacity(512);
    for d in &decisions {
        write_decision_line(d.read(), request_id, remote_addr, with_context, &mut buf).map_err(value_error)?;
        out.push(PyBytes::new(py, &buf));
    }
    Ok(out)
}

fn form(full: bool) -> ReceiptForm {
    if full {
        ReceiptForm::Full
    } else {
        ReceiptForm::Compact
    }
}

/// One decision's verdict (the body of `POST /v1/proofs/verify`).
#[pyfunction]
#[pyo3(signature = (decision, *, full_receipt = false))]
pub fn verdict<'py>(
    py: Python<'py>,
    decision: PyRef<'py, Decision>,
    full_receipt: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut buf = Vec::with_capacity(1024);
    write_verdict(decision.read(), form(full_receipt), &mut buf).map_err(value_error)?;
    Ok(PyBytes::new(py, &buf))
}

/// The verify-batch body: `{"results":[verdict,...],"valid":n,"invalid":m}`.
#[pyfunction]
#[pyo3(signature = (decisions, *, full_receipts = false))]
pub fn batch_body<'py>(
    py: Python<'py>,
    decisions: Vec<PyRef<'py, Decision>>,
    full_receipts: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let refs: Vec<&proof_messenger_relay::Decision> = decisions.iter().map(|d| d.read()).collect();
    let mut buf = Vec::with_capacity(700 * refs.len() + 64);
    write_batch_body(&refs, form(full_receipts), &mut buf).map_err(value_error)?;
    Ok(PyBytes::new(py, &buf))
}

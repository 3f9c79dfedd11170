//! The relay's per-decision records, written in one native call per request group.
//!
//! A relay decision is written twice besides the HTTP verdict: as an audit-log
//! entry (RFC 8785 canonical JSON, hashed into the Merkle tree) and as a
//! decision-log line (compact JSON for a SIEM). In Python each costs a dict and
//! an encoder call per decision, a fifth of a batch's GIL time; here a group's
//! records are written in one pass. The Python writers stay the reference
//! (`proof_messenger.auditlog.entry.make_leaf`, `relay.events`) and the tests
//! compare both byte for byte; anything these flat writers do not take (a
//! sealed context, an unsafe integer, a lone surrogate) raises, and the caller
//! uses the Python writer for the group.
use proof_messenger_core::canonical::write_string;
use proof_messenger_core::encoding::encode_base64url;
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::verify::VerificationResult;

/// Largest integer JSON carries exactly (2^53 - 1), as in RFC 8785.
const MAX_SAFE: i64 = (1 << 53) - 1;

/// A member value of a flat JSON object.
enum Field<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Str(&'a str),
}

impl<'a> From<Option<&'a str>> for Field<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Field::Null, Field::Str)
    }
}

/// Writes `{"name":value,...}` in the given member order with JCS escaping;
/// with members already in code-point order this is the canonical form.
fn write_object(members: &[(&str, Field<'_>)], out: &mut Vec<u8>) -> PyResult<()> {
    out.push(b'{');
    write_members(members, out)?;
    out.push(b'}');
    Ok(())
}

/// Writes `"name":value` pairs separated by commas (no braces).
fn write_members(members: &[(&str, Field<'_>)], out: &mut Vec<u8>) -> PyResult<()> {
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        match value {
            Field::Null => out.extend_from_slice(b"null"),
            Field::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Field::Int(n) if (-MAX_SAFE..=MAX_SAFE).contains(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Field::Int(_) => return Err(PyValueError::new_err(format!("{name}: integer beyond 2^53"))),
            Field::Str(s) => write_string(s, out),
        }
    }
    Ok(())
}

/// An `AuditRecord` (a named tuple): time, decision, reason, audience, client,
/// subject, key id, algorithm, signed digest (hex), context.
type AuditRow<'py> = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Bound<'py, PyAny>>,
);

/// Audit-log entries for `records` (`AuditRecord` tuples without a context to
/// seal), numbered from `first_index` in the log `log_id`: the bytes
/// `make_leaf` writes for each.
#[pyfunction]
pub fn audit_entries<'py>(
    py: Python<'py>,
    records: Vec<Bound<'py, PyAny>>,
    first_index: i64,
    log_id: &str,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut out = Vec::with_capacity(records.len());
    let mut buf = Vec::with_capacity(512);
    for (k, record) in records.iter().enumerate() {
        let (time, decision, reason, audience, client, subject, key_id, algorithm, signed_digest, context): AuditRow<
            'py,
        > = record.extract()?;
        if context.is_some() {
            return Err(PyValueError::new_err("a context to seal needs the Python writer"));
        }
        if decision != "accepted" && decision != "rejected" {
            return Err(PyValueError::new_err(format!("decision must be 'accepted' or 'rejected', not {decision:?}")));
        }
        let index = first_index + i64::try_from(k).map_err(|_| PyValueError::new_err("too many records"))?;
        let receipt_id = format!("rcpt_{log_id}_{index}");
        buf.clear();
        // Members in RFC 8785 order (ASCII names: code-point order).
        write_object(
            &[
                ("algorithm", algorithm.as_deref().into()),
                ("audience", audience.as_deref().into()),
                ("client", client.as_deref().into()),
                ("decision", Field::Str(&decision)),
                ("index", Field::Int(index)),
                ("keyId", key_id.as_deref().into()),
                ("log", Field::Str(log_id)),
                ("reason", reason.as_deref().into()),
                ("receiptId", Field::Str(&receipt_id)),
                ("signedDigest", signed_digest.as_deref().into()),
                ("subject", subject.as_deref().into()),
                ("time", Field::Int(time)),
                ("v", Field::Int(1)),
            ],
            &mut buf,
        )?;
        out.push(PyBytes::new(py, &buf));
    }
    Ok(out)
}

/// The members of a relay `Decision` (`proof_messenger.relay.decision`) that the
/// decision log and the verdict print, read by attribute name.
struct DecisionFields {
    valid: bool,
    code: Option<String>,
    detail: Option<String>,
    audience: Option<String>,
    decided_at_ms: i64,
    client_id: Option<String>,
    subject: Option<String>,
    key_id: Option<String>,
    enrollment_id: Option<String>,
    nonce: Option<String>,
    timestamp_ms: Option<i64>,
    /// Printed base64url.
    context_digest: Option<String>,
    receipt_id: Option<String>,
}

impl DecisionFields {
    fn read(d: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = d.py();
        let digest: Option<Vec<u8>> = d.getattr(intern!(py, "context_digest"))?.extract()?;
        Ok(Self {
            valid: d.getattr(intern!(py, "valid"))?.extract()?,
            code: d.getattr(intern!(py, "code"))?.extract()?,
            detail: d.getattr(intern!(py, "detail"))?.extract()?,
            audience: d.getattr(intern!(py, "audience"))?.extract()?,
            decided_at_ms: d.getattr(intern!(py, "decided_at_ms"))?.extract()?,
            client_id: d.getattr(intern!(py, "client_id"))?.extract()?,
            subject: d.getattr(intern!(py, "subject"))?.extract()?,
            key_id: d.getattr(intern!(py, "key_id"))?.extract()?,
            enrollment_id: d.getattr(intern!(py, "enrollment_id"))?.extract()?,
            nonce: d.getattr(intern!(py, "nonce"))?.extract()?,
            timestamp_ms: d.getattr(intern!(py, "timestamp_ms"))?.extract()?,
            context_digest: digest.as_deref().map(encode_base64url),
            receipt_id: d.getattr(intern!(py, "receipt_id"))?.extract()?,
        })
    }
}

/// Decision-log lines (no trailing newline) for relay `Decision`s: the bytes
/// `relay.events.DecisionEvents` writes for each (without a context).
#[pyfunction]
pub fn decision_lines<'py>(
    py: Python<'py>,
    decisions: Vec<Bound<'py, PyAny>>,
    request_id: Option<&str>,
    remote_addr: Option<&str>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut out = Vec::with_capacity(decisions.len());
    let mut buf = Vec::with_capacity(512);
    for decision in &decisions {
        let d = DecisionFields::read(decision)?;
        let ts = rfc3339_ms(d.decided_at_ms)?;
        buf.clear();
        write_object(
            &[
                ("ts", Field::Str(&ts)),
                ("event", Field::Str("proof_messenger.decision")),
                ("outcome", Field::Str(if d.valid { "success" } else { "failure" })),
                ("valid", Field::Bool(d.valid)),
                ("code", d.code.as_deref().into()),
                ("client", d.client_id.as_deref().into()),
                ("subject", d.subject.as_deref().into()),
                ("keyId", d.key_id.as_deref().into()),
                ("enrollmentId", d.enrollment_id.as_deref().into()),
                ("audience", d.audience.as_deref().into()),
                ("nonce", d.nonce.as_deref().into()),
                ("proofTimestamp", d.timestamp_ms.map_or(Field::Null, Field::Int)),
                ("contextDigest", d.context_digest.as_deref().into()),
                ("receiptId", d.receipt_id.as_deref().into()),
                ("requestId", request_id.into()),
                ("remoteAddr", remote_addr.into()),
            ],
            &mut buf,
        )?;
        out.push(PyBytes::new(py, &buf));
    }
    Ok(out)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) for Unix milliseconds in years 1970..=9999.
fn rfc3339_ms(ms: i64) -> PyResult<String> {
    if !(0..253_402_300_800_000).contains(&ms) {
        return Err(PyValueError::new_err("decision time out of range"));
    }
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    Ok(format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60))
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Verdict objects (JSON bytes, one per relay `Decision`) as
/// `Decision.verdict(compact_receipt=True)` encodes them, except that the
/// context is its canonical JSON (the bytes whose digest the key signed)
/// instead of a re-encoded dict.
#[pyfunction]
pub fn verdicts<'py>(py: Python<'py>, decisions: Vec<Bound<'py, PyAny>>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    use base64::Engine as _;
    let mut out = Vec::with_capacity(decisions.len());
    let mut buf = Vec::with_capacity(1024);
    for decision in &decisions {
        let d = DecisionFields::read(decision)?;
        buf.clear();
        buf.push(b'{');
        write_members(
            &[
                ("valid", Field::Bool(d.valid)),
                ("code", d.code.as_deref().into()),
                ("detail", d.detail.as_deref().into()),
                ("subject", d.subject.as_deref().into()),
                ("keyId", d.key_id.as_deref().into()),
                ("enrollmentId", d.enrollment_id.as_deref().into()),
                ("audience", d.audience.as_deref().into()),
                ("nonce", d.nonce.as_deref().into()),
                ("timestamp", d.timestamp_ms.map_or(Field::Null, Field::Int)),
            ],
            &mut buf,
        )?;
        buf.extend_from_slice(b",\"context\":");
        write_context(decision, &mut buf)?;
        buf.push(b',');
        write_members(
            &[("contextDigest", d.context_digest.as_deref().into()), ("receiptId", d.receipt_id.as_deref().into())],
            &mut buf,
        )?;
        buf.extend_from_slice(b",\"receipt\":");
        let receipt = decision.getattr(intern!(py, "receipt"))?;
        if receipt.is_none() {
            buf.extend_from_slice(b"null");
        } else {
            let id: String = receipt.getattr(intern!(py, "receipt_id"))?.extract()?;
            let origin: String = receipt.getattr(intern!(py, "origin"))?.extract()?;
            let index: i64 = receipt.getattr(intern!(py, "index"))?.extract()?;
            let leaf_hash: Vec<u8> = receipt.getattr(intern!(py, "leaf_hash"))?.extract()?;
            let leaf = base64::engine::general_purpose::STANDARD.encode(leaf_hash);
            write_object(
                &[
                    ("receiptId", Field::Str(&id)),
                    ("origin", Field::Str(&origin)),
                    ("index", Field::Int(index)),
                    ("leafHash", Field::Str(&leaf)),
                ],
                &mut buf,
            )?;
        }
        buf.push(b'}');
        out.push(PyBytes::new(py, &buf));
    }
    Ok(out)
}

/// The verified context's canonical JSON: read from the core's result when the
/// decision carries one, else `Decision.context_json()` (a context given as a dict).
fn write_context(decision: &Bound<'_, PyAny>, buf: &mut Vec<u8>) -> PyResult<()> {
    let py = decision.py();
    let result = decision.getattr(intern!(py, "result"))?;
    if let Ok(result) = result.cast::<VerificationResult>() {
        if let Some(json) = result.get().canonical_context_bytes() {
            buf.extend_from_slice(json);
            return Ok(());
        }
    }
    let json = decision.call_method0(intern!(py, "context_json"))?;
    match json.cast::<PyBytes>() {
        Ok(bytes) => buf.extend_from_slice(bytes.as_bytes()),
        Err(_) => buf.extend_from_slice(b"null"),
    }
    Ok(())
}

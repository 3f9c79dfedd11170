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
use pyo3::types::{PyBytes, PyString};

use std::fmt::Write as _;

use crate::decision::Decision;

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

/// The members of an audit-log entry besides its position.
struct Entry<'a> {
    time_ms: i64,
    accepted: bool,
    reason: Option<&'a str>,
    audience: Option<&'a str>,
    client: Option<&'a str>,
    subject: Option<&'a str>,
    key_id: Option<&'a str>,
    algorithm: Option<&'a str>,
    /// Hex.
    signed_digest: Option<&'a str>,
}

/// Writes the entry numbered `index` in the log `log_id`: the bytes `make_leaf`
/// writes for it.
fn write_entry(e: &Entry<'_>, index: i64, log_id: &str, buf: &mut Vec<u8>) -> PyResult<()> {
    let receipt_id = format!("rcpt_{log_id}_{index}");
    buf.clear();
    // Members in RFC 8785 order (ASCII names: code-point order).
    write_object(
        &[
            ("algorithm", e.algorithm.into()),
            ("audience", e.audience.into()),
            ("client", e.client.into()),
            ("decision", Field::Str(if e.accepted { "accepted" } else { "rejected" })),
            ("index", Field::Int(index)),
            ("keyId", e.key_id.into()),
            ("log", Field::Str(log_id)),
            ("reason", e.reason.into()),
            ("receiptId", Field::Str(&receipt_id)),
            ("signedDigest", e.signed_digest.into()),
            ("subject", e.subject.into()),
            ("time", Field::Int(e.time_ms)),
            ("v", Field::Int(1)),
        ],
        buf,
    )
}

fn entry_index(first_index: i64, k: usize) -> PyResult<i64> {
    i64::try_from(k)
        .ok()
        .and_then(|k| first_index.checked_add(k))
        .ok_or_else(|| PyValueError::new_err("too many records"))
}

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
        let accepted = match decision.as_str() {
            "accepted" => true,
            "rejected" => false,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "decision must be 'accepted' or 'rejected', not {decision:?}"
                )))
            }
        };
        let entry = Entry {
            time_ms: time,
            accepted,
            reason: reason.as_deref(),
            audience: audience.as_deref(),
            client: client.as_deref(),
            subject: subject.as_deref(),
            key_id: key_id.as_deref(),
            algorithm: algorithm.as_deref(),
            signed_digest: signed_digest.as_deref(),
        };
        write_entry(&entry, entry_index(first_index, k)?, log_id, &mut buf)?;
        out.push(PyBytes::new(py, &buf));
    }
    Ok(out)
}

/// Audit-log entries for relay `Decision`s, numbered from `first_index` in the
/// log `log_id`: the bytes `make_leaf(relay.audit.to_record(d))` writes (no
/// context: a sealed context needs the Python writer).
#[pyfunction]
pub fn decision_entries<'py>(
    py: Python<'py>,
    decisions: Vec<Bound<'py, Decision>>,
    first_index: i64,
    log_id: &str,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut out = Vec::with_capacity(decisions.len());
    let mut buf = Vec::with_capacity(512);
    let mut hex = String::with_capacity(64);
    for (k, decision) in decisions.iter().enumerate() {
        let d = decision.borrow();
        hex.clear();
        if let Some(digest) = &d.signed_digest {
            // lower-case hex, as `bytes.hex()` (a nibble is always a base-16 digit)
            for &b in digest {
                for nibble in [b >> 4, b & 15] {
                    hex.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                }
            }
        }
        let entry = Entry {
            time_ms: d.decided_at_ms,
            accepted: d.valid,
            reason: if d.valid { None } else { d.code.as_deref() },
            audience: Some(&d.audience),
            client: d.client_id.as_deref(),
            subject: d.subject.as_deref(),
            key_id: d.key_id.as_deref(),
            // the core's allowlist: every proof that got as far as a key id is Ed25519
            algorithm: d.algorithm.as_deref().or(d.key_id.as_ref().map(|_| "Ed25519")),
            signed_digest: d.signed_digest.as_ref().map(|_| hex.as_str()),
        };
        write_entry(&entry, entry_index(first_index, k)?, log_id, &mut buf)?;
        out.push(PyBytes::new(py, &buf));
    }
    Ok(out)
}

/// Decision-log lines (no trailing newline) for relay `Decision`s: the bytes
/// `relay.events.DecisionEvents` writes for each (without a context).
#[pyfunction]
pub fn decision_lines<'py>(
    py: Python<'py>,
    decisions: Vec<Bound<'py, Decision>>,
    request_id: Option<&str>,
    remote_addr: Option<&str>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut out = Vec::with_capacity(decisions.len());
    let mut buf = Vec::with_capacity(512);
    for decision in &decisions {
        let d = decision.borrow();
        let digest = d.context_digest.as_deref().map(encode_base64url);
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
                ("audience", Field::Str(&d.audience)),
                ("nonce", d.nonce.as_deref().into()),
                ("proofTimestamp", d.timestamp_ms.map_or(Field::Null, Field::Int)),
                ("contextDigest", digest.as_deref().into()),
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
pub fn verdicts<'py>(py: Python<'py>, decisions: Vec<Bound<'py, Decision>>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let mut out = Vec::with_capacity(decisions.len());
    let mut buf = Vec::with_capacity(1024);
    for decision in &decisions {
        buf.clear();
        write_verdict(py, &decision.borrow(), &mut buf)?;
        out.push(PyBytes::new(py, &buf));
    }
    Ok(out)
}

/// The verify-batch response body for `decisions`:
/// `{"results":[verdict,...],"valid":n,"invalid":m}`, each verdict as `verdicts` writes it.
#[pyfunction]
pub fn verdicts_body<'py>(py: Python<'py>, decisions: Vec<Bound<'py, Decision>>) -> PyResult<Bound<'py, PyBytes>> {
    let mut buf = Vec::with_capacity(700 * decisions.len() + 64);
    let mut valid = 0usize;
    buf.extend_from_slice(b"{\"results\":[");
    for (k, decision) in decisions.iter().enumerate() {
        if k > 0 {
            buf.push(b',');
        }
        let d = decision.borrow();
        valid += usize::from(d.valid);
        write_verdict(py, &d, &mut buf)?;
    }
    let _ = write!(Tail(&mut buf), "],\"valid\":{valid},\"invalid\":{}}}", decisions.len() - valid);
    Ok(PyBytes::new(py, &buf))
}

/// `fmt::Write` into a byte buffer.
struct Tail<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Tail<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends one decision's verdict object to `buf`.
fn write_verdict(py: Python<'_>, d: &Decision, buf: &mut Vec<u8>) -> PyResult<()> {
    use base64::Engine as _;
    let digest = d.context_digest.as_deref().map(encode_base64url);
    buf.push(b'{');
    write_members(
        &[
            ("valid", Field::Bool(d.valid)),
            ("code", d.code.as_deref().into()),
            ("detail", d.detail.as_deref().into()),
            ("subject", d.subject.as_deref().into()),
            ("keyId", d.key_id.as_deref().into()),
            ("enrollmentId", d.enrollment_id.as_deref().into()),
            ("audience", Field::Str(&d.audience)),
            ("nonce", d.nonce.as_deref().into()),
            ("timestamp", d.timestamp_ms.map_or(Field::Null, Field::Int)),
        ],
        buf,
    )?;
    buf.extend_from_slice(b",\"context\":");
    if !d.write_context_json(py, buf)? {
        buf.extend_from_slice(b"null");
    }
    buf.push(b',');
    write_members(&[("contextDigest", digest.as_deref().into()), ("receiptId", d.receipt_id.as_deref().into())], buf)?;
    buf.extend_from_slice(b",\"receipt\":");
    if let Some(receipt) = &d.receipt {
        let receipt = receipt.bind(py);
        let id = receipt.getattr(intern!(py, "receipt_id"))?;
        let origin = receipt.getattr(intern!(py, "origin"))?;
        let index: i64 = receipt.getattr(intern!(py, "index"))?.extract()?;
        let leaf_hash = receipt.getattr(intern!(py, "leaf_hash"))?;
        let leaf = base64::engine::general_purpose::STANDARD.encode(leaf_hash.cast::<PyBytes>()?.as_bytes());
        write_object(
            &[
                ("receiptId", Field::Str(id.cast::<PyString>()?.to_str()?)),
                ("origin", Field::Str(origin.cast::<PyString>()?.to_str()?)),
                ("index", Field::Int(index)),
                ("leafHash", Field::Str(&leaf)),
            ],
            buf,
        )?;
    } else {
        buf.extend_from_slice(b"null");
    }
    buf.push(b'}');
    Ok(())
}

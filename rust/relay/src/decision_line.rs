//! The decision-log line: one JSON object per decision, for a SIEM (docs/RELAY.md, "Decision events").
//!
//! Members, in this order: `ts` (RFC 3339, UTC, milliseconds), `event`,
//! `outcome` (`success`/`failure`), `valid`, `code`, `client`, `subject`,
//! `keyId`, `enrollmentId`, `audience`, `nonce`, `proofTimestamp`,
//! `contextDigest` (base64url), `receiptId`, `requestId`, `remoteAddr`, and
//! `context` (the verified context's canonical JSON) only when the relay is
//! configured to log contexts. Never a signature or a credential.
use proof_messenger_core::encoding::encode_base64url;

use crate::decision::Decision;
use crate::errors::RecordError;
use crate::json_writer::{write_members, Field};

/// The `event` member of every line.
pub const EVENT: &str = "proof_messenger.decision";

/// Writes `d`'s line into `out` (cleared first; no trailing newline).
pub fn write_decision_line(
    d: &Decision,
    request_id: Option<&str>,
    remote_addr: Option<&str>,
    with_context: bool,
    out: &mut Vec<u8>,
) -> Result<(), RecordError> {
    let digest = d.context_digest.as_deref().map(encode_base64url);
    let ts = rfc3339_ms(d.decided_at_ms)?;
    out.clear();
    out.push(b'{');
    write_members(
        &[
            ("ts", Field::Str(&ts)),
            ("event", Field::Str(EVENT)),
            ("outcome", Field::Str(if d.valid { "success" } else { "failure" })),
            ("valid", Field::Bool(d.valid)),
            ("code", d.code.as_deref().into()),
            ("client", d.client_id.as_deref().into()),
            ("subject", d.subject.as_deref().into()),
            ("keyId", d.key_id.as_deref().into()),
            ("enrollmentId", d.enrollment_id.as_deref().into()),
            ("audience", Field::Str(&d.audience)),
            ("nonce", d.nonce.as_deref().into()),
            ("proofTimestamp", d.timestamp_ms.into()),
            ("contextDigest", digest.as_deref().into()),
            ("receiptId", d.receipt_id().into()),
            ("requestId", request_id.into()),
            ("remoteAddr", remote_addr.into()),
        ],
        out,
    )?;
    if with_context {
        if let Some(context) = d.context_json() {
            out.push(b',');
            write_members(&[("context", Field::Raw(context))], out)?;
        }
    }
    out.push(b'}');
    Ok(())
}

/// The last millisecond RFC 3339 can name with a four-digit year: 9999-12-31T23:59:59.999Z.
const MAX_MS: i64 = 253_402_300_799_999;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) for Unix milliseconds in the years 1970..=9999.
pub fn rfc3339_ms(ms: i64) -> Result<String, RecordError> {
    if !(0..=MAX_MS).contains(&ms) {
        return Err(RecordError::TimeOutOfRange(ms));
    }
    let (secs, millis) = (ms / 1000, ms % 1000);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    Ok(format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, rem % 3600 / 60, rem % 60))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_at_the_edges() {
        assert_eq!(rfc3339_ms(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000).unwrap(), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_764_331_200_123).unwrap(), "2025-11-28T12:00:00.123Z");
        assert_eq!(rfc3339_ms(4_107_542_399_999).unwrap(), "2100-02-28T23:59:59.999Z");
        assert_eq!(rfc3339_ms(MAX_MS).unwrap(), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_ms(MAX_MS + 1), Err(RecordError::TimeOutOfRange(MAX_MS + 1)));
        assert_eq!(rfc3339_ms(-1), Err(RecordError::TimeOutOfRange(-1)));
    }

    #[test]
    fn every_day_of_four_centuries_follows_the_previous_one() {
        // Days in a row: the date advances by exactly one day, months and leap years included.
        let mut prev = civil_from_days(0);
        assert_eq!(prev, (1970, 1, 1));
        for days in 1..146_097 + 365 * 30 {
            let next = civil_from_days(days);
            let (y, m, d) = prev;
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let month_len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let expected = if d < month_len {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            assert_eq!(next, expected, "day {days}");
            prev = next;
        }
    }

    #[test]
    fn context_only_when_asked_and_present() {
        let d = Decision { valid: true, audience: "a".into(), decided_at_ms: 0, ..Decision::default() };
        let mut out = Vec::new();
        write_decision_line(&d, None, None, true, &mut out).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("context\":"));
        let d = Decision { context: Some(crate::decision::Context::Canonical(b"{\"a\":1}".to_vec())), ..d };
        let mut out = Vec::new();
        write_decision_line(&d, None, None, false, &mut out).unwrap();
        assert!(!String::from_utf8(out.clone()).unwrap().contains("\"context\":"));
        write_decision_line(&d, None, None, true, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().ends_with(",\"remoteAddr\":null,\"context\":{\"a\":1}}"));
    }
}

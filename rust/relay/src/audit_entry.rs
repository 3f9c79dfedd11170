//! The audit-log entry: what one decision puts in the Merkle log (docs/AUDIT_LOG.md, "Entries").
//!
//! An entry is the RFC 8785 canonical JSON of a flat object:
//!
//! ```text
//! {"algorithm":"Ed25519","audience":"payments-api","client":"cli_1","decision":"accepted",
//!  "index":41,"keyId":"...","log":"<log id>","reason":null,"receiptId":"rcpt_<log id>_41",
//!  "signedDigest":"<hex>","subject":"alice","time":1764331200000,"v":1}
//! ```
//!
//! Only identifiers and digests: the context is stored only sealed
//! (`sealed`, AES-256-GCM of its canonical JSON with the rest of the entry as
//! additional data; the sealing itself is the audit log's, in Python). `index`
//! and `log` make every entry self-locating.
use crate::decision::Decision;
use crate::errors::RecordError;
use crate::json_writer::{write_object, Field};

/// The entry format's version (`v`).
pub const VERSION: i64 = 1;

/// The members of an entry besides its position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry<'a> {
    /// When the decision was made, Unix ms.
    pub time_ms: i64,
    /// "accepted" or "rejected".
    pub accepted: bool,
    /// The reason code of a rejection.
    pub reason: Option<&'a str>,
    /// The audience the relay required.
    pub audience: Option<&'a str>,
    /// The API client.
    pub client: Option<&'a str>,
    /// The proof's subject.
    pub subject: Option<&'a str>,
    /// The proof's key id.
    pub key_id: Option<&'a str>,
    /// The proof's algorithm.
    pub algorithm: Option<&'a str>,
    /// SHA-256 of the signed payload, lower-case hex.
    pub signed_digest: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// The entry of a relay decision; `digest_hex` is a buffer for the signed digest's hex.
    pub fn of(d: &'a Decision, digest_hex: &'a mut String) -> Entry<'a> {
        digest_hex.clear();
        if let Some(digest) = &d.signed_digest {
            push_hex(digest, digest_hex);
        }
        Entry {
            time_ms: d.decided_at_ms,
            accepted: d.valid,
            reason: if d.valid { None } else { d.code.as_deref() },
            audience: Some(&d.audience),
            client: d.client_id.as_deref(),
            subject: d.subject.as_deref(),
            key_id: d.key_id.as_deref(),
            // Entries of relays that did not record the algorithm: every proof that got as far
            // as a key id was Ed25519 then.
            algorithm: d.algorithm.as_deref().or(d.key_id.as_ref().map(|_| "Ed25519")),
            signed_digest: d.signed_digest.as_ref().map(|_| digest_hex.as_str()),
        }
    }
}

/// A context sealed with AES-256-GCM (docs/AUDIT_LOG.md, "Contexts at rest"): written as
/// the entry's `sealed` member, `{"alg","ct","kid","nonce"}` (base64url values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sealed<'a> {
    /// The algorithm (`A256GCM`).
    pub alg: &'a str,
    /// The key's id in the keyring.
    pub kid: &'a str,
    /// The 12-byte nonce.
    pub nonce: &'a str,
    /// Ciphertext and tag.
    pub ct: &'a str,
}

/// `rcpt_<log id>_<index>`: the receipt id of entry `index` of the log `log_id`.
pub fn receipt_id(log_id: &str, index: u64) -> String {
    format!("rcpt_{log_id}_{index}")
}

/// Writes entry number `index` of the log `log_id` into `out` (cleared first);
/// `sealed` is the sealed context, if any.
pub fn write_entry(
    e: &Entry<'_>,
    index: u64,
    log_id: &str,
    sealed: Option<&Sealed<'_>>,
    out: &mut Vec<u8>,
) -> Result<(), RecordError> {
    let receipt_id = receipt_id(log_id, index);
    let index =
        i64::try_from(index).map_err(|_| RecordError::UnsafeInteger { member: "index".into(), value: i64::MAX })?;
    out.clear();
    let decision = Field::Str(if e.accepted { "accepted" } else { "rejected" });
    // Members in RFC 8785 order: their names are ASCII, so code-point order is byte order.
    let head = [
        ("algorithm", e.algorithm.into()),
        ("audience", e.audience.into()),
        ("client", e.client.into()),
        ("decision", decision),
        ("index", Field::Int(index)),
        ("keyId", e.key_id.into()),
        ("log", Field::Str(log_id)),
        ("reason", e.reason.into()),
        ("receiptId", Field::Str(&receipt_id)),
    ];
    let tail = [
        ("signedDigest", e.signed_digest.into()),
        ("subject", e.subject.into()),
        ("time", Field::Int(e.time_ms)),
        ("v", Field::Int(VERSION)),
    ];
    match sealed {
        None => write_object(&[&head[..], &tail[..]].concat(), out),
        Some(s) => {
            let mut object = Vec::with_capacity(64 + s.ct.len());
            let members = [
                ("alg", Field::Str(s.alg)),
                ("ct", Field::Str(s.ct)),
                ("kid", Field::Str(s.kid)),
                ("nonce", Field::Str(s.nonce)),
            ];
            write_object(&members, &mut object)?;
            write_object(&[&head[..], &[("sealed", Field::Raw(&object))], &tail[..]].concat(), out)
        }
    }
}

/// Lower-case hex, as Python's `bytes.hex()`.
pub fn push_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        for nibble in [b >> 4, b & 15] {
            out.push(char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn members_are_in_canonical_order_and_sealed_slots_in() {
        let e = Entry {
            time_ms: 7,
            accepted: false,
            reason: Some("bad_signature"),
            audience: Some("bank"),
            ..Entry::default()
        };
        let mut out = Vec::new();
        write_entry(&e, 3, "00ff", None, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            r#"{"algorithm":null,"audience":"bank","client":null,"decision":"rejected","index":3,"keyId":null,"log":"00ff","reason":"bad_signature","receiptId":"rcpt_00ff_3","signedDigest":null,"subject":null,"time":7,"v":1}"#
        );
        let sealed = Sealed { alg: "A256GCM", kid: "k1", nonce: "bm9uY2U", ct: "Y3Q" };
        write_entry(&e, 3, "00ff", Some(&sealed), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let member = r#""receiptId":"rcpt_00ff_3","sealed":{"alg":"A256GCM","ct":"Y3Q","kid":"k1","nonce":"bm9uY2U"},"signedDigest":null"#;
        assert!(text.contains(member), "{text}");
    }

    #[test]
    fn an_accepted_entry_has_no_reason_and_old_decisions_default_to_ed25519() {
        let d = Decision {
            valid: true,
            code: Some("ignored".into()),
            key_id: Some("k".into()),
            signed_digest: Some(vec![0, 171, 255]),
            ..Decision::default()
        };
        let mut hex = String::new();
        let e = Entry::of(&d, &mut hex);
        assert_eq!((e.accepted, e.reason, e.algorithm, e.signed_digest), (true, None, Some("Ed25519"), Some("00abff")));
        let d = Decision { algorithm: Some("WebAuthn".into()), ..d };
        let mut hex = String::new();
        assert_eq!(Entry::of(&d, &mut hex).algorithm, Some("WebAuthn"));
        let d = Decision::default();
        let mut hex = String::new();
        let e = Entry::of(&d, &mut hex);
        assert_eq!((e.algorithm, e.signed_digest), (None, None));
    }

    #[test]
    fn an_unsafe_time_is_refused() {
        let e = Entry { time_ms: 1 << 53, ..Entry::default() };
        assert!(matches!(write_entry(&e, 0, "l", None, &mut Vec::new()), Err(RecordError::UnsafeInteger { .. })));
    }
}

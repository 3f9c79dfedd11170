//! The verdict: the relay's HTTP answer for one proof (docs/RELAY.md, "Verdicts").
//!
//! ```text
//! {"valid":false,"code":"bad_signature","detail":"...","subject":"alice","keyId":"...",
//!  "enrollmentId":null,"audience":"payments-api","nonce":"...","timestamp":1764331200000,
//!  "context":null,"contextDigest":"<base64url>","receiptId":"rcpt_...","receipt":{...}}
//! ```
//!
//! `context` is given only for an accepted proof, as its RFC 8785 canonical
//! JSON: the exact bytes whose SHA-256 is `contextDigest`. The receipt is
//! compact (`receiptId`, `origin`, `index`, `leafHash`, `checkpoint`) or full
//! (also `entry` and `inclusionProof`), as the relay is configured. Both carry
//! the signed checkpoint covering the entry: what the client keeps is then
//! evidence, signed by the log, that catches a later rewrite of the entry
//! (docs/AUDIT_LOG.md, "Who can rewrite the log").
use base64::Engine as _;
use proof_messenger_core::encoding::encode_base64url;

use crate::decision::{Decision, Receipt};
use crate::errors::RecordError;
use crate::json_writer::{write_members, write_object, Field};

/// Which receipt a verdict carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiptForm {
    /// Id, origin, index, leaf hash and the signed checkpoint covering the entry: they pin
    /// the entry under the log's signature; the entry and its proof are fetched from the log.
    Compact,
    /// Also the entry and (if attached) the inclusion proof.
    Full,
}

/// Appends `d`'s verdict to `out`.
pub fn write_verdict(d: &Decision, form: ReceiptForm, out: &mut Vec<u8>) -> Result<(), RecordError> {
    let digest = d.context_digest.as_deref().map(encode_base64url);
    out.push(b'{');
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
            ("timestamp", d.timestamp_ms.into()),
            ("context", d.context_json().map_or(Field::Null, Field::Raw)),
            ("contextDigest", digest.as_deref().into()),
            ("receiptId", d.receipt_id().into()),
        ],
        out,
    )?;
    out.extend_from_slice(b",\"receipt\":");
    match &d.receipt {
        None => out.extend_from_slice(b"null"),
        Some(r) => write_receipt(r, form, out)?,
    }
    out.push(b'}');
    Ok(())
}

/// The verify-batch body: `{"results":[verdict,...],"valid":n,"invalid":m}`.
pub fn write_batch_body(decisions: &[&Decision], form: ReceiptForm, out: &mut Vec<u8>) -> Result<(), RecordError> {
    out.extend_from_slice(b"{\"results\":[");
    let mut valid = 0usize;
    for (k, d) in decisions.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        valid += usize::from(d.valid);
        write_verdict(d, form, out)?;
    }
    out.extend_from_slice(format!("],\"valid\":{valid},\"invalid\":{}}}", decisions.len() - valid).as_bytes());
    Ok(())
}

fn write_receipt(r: &Receipt, form: ReceiptForm, out: &mut Vec<u8>) -> Result<(), RecordError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let leaf = b64.encode(&r.leaf_hash);
    let index =
        i64::try_from(r.index).map_err(|_| RecordError::UnsafeInteger { member: "index".into(), value: i64::MAX })?;
    let compact = [
        ("receiptId", Field::Str(&r.receipt_id)),
        ("origin", Field::Str(&r.origin)),
        ("index", Field::Int(index)),
        ("leafHash", Field::Str(&leaf)),
        ("checkpoint", r.checkpoint.as_deref().into()),
    ];
    if form == ReceiptForm::Compact {
        return write_object(&compact, out);
    }
    let entry = std::str::from_utf8(&r.entry).map_err(|_| RecordError::EntryNotUtf8)?;
    let proof = r.inclusion_proof.as_ref().map(|hashes| {
        let mut json = Vec::with_capacity(hashes.len() * 48 + 2);
        json.push(b'[');
        for (i, h) in hashes.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            json.push(b'"');
            json.extend_from_slice(b64.encode(h).as_bytes());
            json.push(b'"');
        }
        json.push(b']');
        json
    });
    out.push(b'{');
    write_members(&compact, out)?;
    out.push(b',');
    write_members(
        &[("entry", Field::Str(entry)), ("inclusionProof", proof.as_deref().map_or(Field::Null, Field::Raw))],
        out,
    )?;
    out.push(b'}');
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn receipt() -> Receipt {
        Receipt {
            receipt_id: "rcpt_l_3".into(),
            origin: "o".into(),
            index: 3,
            leaf_hash: vec![0; 32],
            entry: b"{\"v\":1}".to_vec(),
            checkpoint: None,
            inclusion_proof: Some(vec![vec![255; 32]]),
        }
    }

    #[test]
    fn compact_and_full_receipts() {
        let d = Decision { audience: "a".into(), receipt: Some(receipt()), ..Decision::default() };
        let mut out = Vec::new();
        write_verdict(&d, ReceiptForm::Compact, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with(r#""receiptId":"rcpt_l_3","receipt":{"receiptId":"rcpt_l_3","origin":"o","index":3,"leafHash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","checkpoint":null}}"#), "{text}");
        let signed =
            Decision { receipt: Some(Receipt { checkpoint: Some("o\n4\nroot\n".into()), ..receipt() }), ..d.clone() };
        let mut out = Vec::new();
        write_verdict(&signed, ReceiptForm::Compact, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(
                r#""leafHash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","checkpoint":"o\n4\nroot\n"}}"#
            ),
            "{text}"
        );
        let mut out = Vec::new();
        write_verdict(&d, ReceiptForm::Full, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with(r#""checkpoint":null,"entry":"{\"v\":1}","inclusionProof":["//////////////////////////////////////////8="]}}"#), "{text}");
    }

    #[test]
    fn a_full_receipt_needs_a_utf8_entry() {
        let d = Decision { receipt: Some(Receipt { entry: vec![0xff], ..receipt() }), ..Decision::default() };
        assert_eq!(write_verdict(&d, ReceiptForm::Full, &mut Vec::new()), Err(RecordError::EntryNotUtf8));
        assert!(write_verdict(&d, ReceiptForm::Compact, &mut Vec::new()).is_ok());
    }

    #[test]
    fn batch_counts() {
        let a = Decision { valid: true, ..Decision::default() };
        let b = Decision::default();
        let mut out = Vec::new();
        write_batch_body(&[&a, &b, &b], ReceiptForm::Compact, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("{\"results\":[{\"valid\":true,") && text.ends_with("],\"valid\":1,\"invalid\":2}"));
        let mut out = Vec::new();
        write_batch_body(&[], ReceiptForm::Full, &mut out).unwrap();
        assert_eq!(out, b"{\"results\":[],\"valid\":0,\"invalid\":0}");
    }
}

//! tests/vectors/relay/records.json: every record writer, byte for byte.
//!
//! The file is written by tests/vectors/relay/generate.py with independent
//! tools (Python's json and the rfc8785 package) from docs/RELAY.md and
//! docs/AUDIT_LOG.md; the same file checks the Python package's bindings
//! (tests/relay/test_records.py).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use base64::Engine as _;
use proof_messenger_core::canonical::canonicalize_json;
use proof_messenger_core::json::Limits;
use proof_messenger_relay::audit_entry::{write_entry, Entry, Sealed};
use proof_messenger_relay::decision_line::write_decision_line;
use proof_messenger_relay::verdict::{write_batch_body, write_verdict, ReceiptForm};
use proof_messenger_relay::{Context, Decision, Receipt};
use serde_json::Value;

fn vectors() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/relay/records.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn opt_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

fn receipt(v: &Value) -> Option<Receipt> {
    if v.is_null() {
        return None;
    }
    Some(Receipt {
        receipt_id: v["receiptId"].as_str().unwrap().into(),
        origin: v["origin"].as_str().unwrap().into(),
        index: v["index"].as_u64().unwrap(),
        leaf_hash: b64(v["leafHash"].as_str().unwrap()),
        entry: v["entry"].as_str().unwrap().as_bytes().to_vec(),
        checkpoint: opt_str(&v["checkpoint"]),
        inclusion_proof: v["inclusionProof"].as_array().map(|a| a.iter().map(|h| b64(h.as_str().unwrap())).collect()),
    })
}

fn decision(v: &Value) -> Decision {
    let context = (!v["context"].is_null()).then(|| {
        let text = serde_json::to_vec(&v["context"]).unwrap();
        Context::Canonical(canonicalize_json(&text, &Limits::default()).unwrap())
    });
    Decision {
        valid: v["valid"].as_bool().unwrap(),
        code: opt_str(&v["code"]),
        detail: opt_str(&v["detail"]),
        audience: v["audience"].as_str().unwrap().into(),
        decided_at_ms: v["decided_at_ms"].as_i64().unwrap(),
        client_id: opt_str(&v["client_id"]),
        subject: opt_str(&v["subject"]),
        key_id: opt_str(&v["key_id"]),
        enrollment_id: opt_str(&v["enrollment_id"]),
        nonce: opt_str(&v["nonce"]),
        timestamp_ms: v["timestamp_ms"].as_i64(),
        context,
        context_digest: v["context_digest"]
            .as_str()
            .map(|t| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t).unwrap()),
        signed_digest: v["signed_digest"].as_str().map(|t| hex::decode(t).unwrap()),
        algorithm: opt_str(&v["algorithm"]),
        receipt: receipt(&v["receipt"]),
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn every_record_of_every_case() {
    let doc = vectors();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 30);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let d = decision(&case["decision"]);
        let (rid, addr) = (case["request_id"].as_str(), case["remote_addr"].as_str());

        let mut hex = String::new();
        let mut out = Vec::new();
        let index = case["index"].as_u64().unwrap();
        write_entry(&Entry::of(&d, &mut hex), index, case["log_id"].as_str().unwrap(), None, &mut out).unwrap();
        assert_eq!(text(out), case["audit_entry"].as_str().unwrap(), "{name}: audit entry");

        let mut out = Vec::new();
        write_decision_line(&d, rid, addr, false, &mut out).unwrap();
        assert_eq!(text(out), case["decision_line"].as_str().unwrap(), "{name}: decision line");
        let mut out = Vec::new();
        write_decision_line(&d, rid, addr, true, &mut out).unwrap();
        assert_eq!(text(out), case["decision_line_with_context"].as_str().unwrap(), "{name}: line with context");

        for (form, member) in [(ReceiptForm::Compact, "verdict_compact"), (ReceiptForm::Full, "verdict_full")] {
            let mut out = Vec::new();
            write_verdict(&d, form, &mut out).unwrap();
            assert_eq!(text(out), case[member].as_str().unwrap(), "{name}: {member}");
        }
    }
}

#[test]
fn batch_bodies() {
    let doc = vectors();
    let by_name: std::collections::HashMap<&str, &Value> =
        doc["cases"].as_array().unwrap().iter().map(|c| (c["name"].as_str().unwrap(), c)).collect();
    let batches = doc["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 3);
    for batch in batches {
        let decisions: Vec<Decision> = batch["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| decision(&by_name[n.as_str().unwrap()]["decision"]))
            .collect();
        let refs: Vec<&Decision> = decisions.iter().collect();
        for (form, member) in [(ReceiptForm::Compact, "body_compact"), (ReceiptForm::Full, "body_full")] {
            let mut out = Vec::new();
            write_batch_body(&refs, form, &mut out).unwrap();
            assert_eq!(text(out), batch[member].as_str().unwrap(), "{member} of {} decisions", refs.len());
        }
    }
}

#[test]
fn a_sealed_entry_is_the_entry_with_its_sealed_member_in_canonical_order() {
    // The sealed form has no vector of its own (AES-GCM is randomised); it must be the
    // unsealed entry's canonical JSON with one more member.
    let doc = vectors();
    let case = &doc["cases"][0];
    let d = decision(&case["decision"]);
    let mut hex = String::new();
    let mut out = Vec::new();
    let sealed = Sealed { alg: "A256GCM", kid: "k", nonce: "AAAA", ct: "BBBB" };
    write_entry(&Entry::of(&d, &mut hex), 41, case["log_id"].as_str().unwrap(), Some(&sealed), &mut out).unwrap();
    let mut expected: serde_json::Map<String, Value> =
        serde_json::from_str(case["audit_entry"].as_str().unwrap()).unwrap();
    let member = serde_json::json!({"nonce": "AAAA", "kid": "k", "ct": "BBBB", "alg": "A256GCM"});
    expected.insert("sealed".into(), member);
    let canonical = canonicalize_json(&serde_json::to_vec(&expected).unwrap(), &Limits::default()).unwrap();
    assert_eq!(text(out), text(canonical));
}

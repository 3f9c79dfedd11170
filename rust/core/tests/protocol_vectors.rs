//! The shared protocol vectors of tests/vectors/ through the core's public API,
//! so that `cargo test` checks the core without Python:
//!
//! - proof_v1.json: every derived value of the signed cases (keys, canonical
//!   context, digests, payload, signature, the proof bytes) and the exact
//!   verdict and code of every verdict entry, single and in batches;
//! - canonical_v1.json: the canonical text or the error code of every input;
//! - ed25519_edge.json: the code of every adversarial public key, and the
//!   verdict of every adversarial signature, alone and inside its proof.
//!
//! What the Python tests (tests/test_vectors.py, tests/test_ed25519_edge.py)
//! check through Python-only API is left out here: the Python value paths
//! (`pm.canonicalize(json.loads(...))`, proofs given as dicts or `pm.Proof`
//! objects), PEM keys (`VerifyingKey.from_pem`; the core has no PEM decoder)
//! and the fields of the Python `VerificationResult` beyond those the core
//! exposes (checked here: envelope members and `Policy::expires_at`). The
//! independent recomputation of tests/protocol_reference.py (rfc8785, PyNaCl)
//! is mirrored by `proof_cases_match_an_independent_recomputation` with sha2
//! and ed25519-dalek.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proof_messenger_core::batch::{verify_batch, verify_batch_with, BatchItem, Item};
use proof_messenger_core::canonical::{canonicalize, canonicalize_json, canonicalize_object};
use proof_messenger_core::digest;
use proof_messenger_core::ed25519::{self, PublicKey, SigningKey, SPKI_PREFIX};
use proof_messenger_core::encoding::{decode_base64, decode_base64url, encode_base64, encode_base64url};
use proof_messenger_core::json::{self, Limits, Object};
use proof_messenger_core::proof::{AnyProof, Envelope, Proof};
use proof_messenger_core::verify::{verify, verify_with, Policy, Trusted};
use proof_messenger_core::{ErrorCode, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn vectors_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn entries<'a>(file: &'a Value, key: &str) -> &'a [Value] {
    file[key].as_array().unwrap_or_else(|| panic!("no array {key:?}"))
}

fn str_of<'a>(entry: &'a Value, key: &str) -> &'a str {
    entry[key].as_str().unwrap_or_else(|| panic!("{}: no string {key:?}", entry["name"]))
}

fn u64_of(entry: &Value, key: &str) -> u64 {
    entry[key].as_u64().unwrap_or_else(|| panic!("{}: no integer {key:?}", entry["name"]))
}

fn hex_of(entry: &Value, key: &str) -> Vec<u8> {
    hex::decode(str_of(entry, key)).unwrap()
}

fn name(entry: &Value) -> &str {
    str_of(entry, "name")
}

/// The error code of a result, or None when it succeeded.
fn code_of<T>(result: &Result<T>) -> Option<ErrorCode> {
    result.as_ref().err().map(|e| e.code())
}

/// `expected`/`proof_expected` of an entry as the code to see (None: valid),
/// checking that `valid` and `code` agree.
fn expected_code(entry: &Value, key: &str) -> Option<ErrorCode> {
    let expected = &entry[key];
    let valid = expected["valid"].as_bool().unwrap();
    let code = expected["code"].as_str().map(|c| ErrorCode::from_code(c).unwrap_or_else(|| panic!("unknown code {c}")));
    assert_eq!(valid, code.is_none(), "{}: valid and code disagree", name(entry));
    code
}

fn context_object(text: &str) -> Object {
    let json::Value::Object(object) = json::parse(text.as_bytes(), &Limits::default()).unwrap() else {
        panic!("not an object: {text}")
    };
    object
}

// ---------------------------------------------------------------- vector policies

enum Trust {
    Fixed(Vec<PublicKey>),
    /// Per-subject trust: subject -> keys.
    PerSubject(HashMap<String, Vec<PublicKey>>),
}

/// A configured verifier of a vector policy.
struct Verifier {
    policy: Policy,
    limits: Limits,
    trust: Trust,
}

/// A trusted key as the vectors give it: padded base64 of raw or SPKI bytes,
/// validated when configured (PROTOCOL section 6 step 5).
fn trusted_key(text: &str) -> Result<PublicKey> {
    PublicKey::from_raw_or_spki(&decode_base64(text, "publicKey")?)
}

fn keys(list: &Value) -> Result<Vec<PublicKey>> {
    list.as_array().unwrap().iter().map(|k| trusted_key(k.as_str().unwrap())).collect()
}

/// Configures a verifier; an invalid or weak trusted key is the error.
fn configure(policy: &Value) -> Result<Verifier> {
    let known: BTreeSet<&str> = policy.as_object().unwrap().keys().map(String::as_str).collect();
    let trust_member = if known.contains("subject_keys_b64") { "subject_keys_b64" } else { "trusted_public_keys_b64" };
    let expected_members: BTreeSet<&str> =
        ["audience", "now_ms", "max_age_ms", "max_skew_ms", "max_bytes", "max_depth", trust_member].into();
    assert_eq!(known, expected_members, "policy members: {policy}");
    let trust = if let Some(table) = policy["subject_keys_b64"].as_object() {
        let mut resolved = HashMap::new();
        for (subject, list) in table {
            resolved.insert(subject.clone(), keys(list)?);
        }
        Trust::PerSubject(resolved)
    } else {
        Trust::Fixed(keys(&policy["trusted_public_keys_b64"])?)
    };
    Ok(Verifier {
        policy: Policy {
            audience: str_of(policy, "audience").to_owned(),
            now_ms: u64_of(policy, "now_ms"),
            max_age_ms: u64_of(policy, "max_age_ms"),
            max_skew_ms: u64_of(policy, "max_skew_ms"),
        },
        limits: Limits {
            max_bytes: usize::try_from(u64_of(policy, "max_bytes")).unwrap(),
            max_depth: usize::try_from(u64_of(policy, "max_depth")).unwrap(),
        },
        trust,
    })
}

impl Verifier {
    /// The keys trusted for a proof's subject (`missing_subject` under per-subject trust without one).
    fn keys_for(&self, envelope: &Envelope) -> Result<&[PublicKey]> {
        match &self.trust {
            Trust::Fixed(keys) => Ok(keys),
            Trust::PerSubject(table) => match envelope.subject() {
                None => Err(proof_messenger_core::Error::new(ErrorCode::MissingSubject, "no context.subject")),
                Some(subject) => Ok(table.get(subject).map_or(&[][..], Vec::as_slice)),
            },
        }
    }

    /// As a verifier of either proof kind does it (AnyProof, verify_with).
    fn verify_any(&self, bytes: &[u8]) -> Result<AnyProof> {
        let proof = AnyProof::parse(bytes, &self.limits)?;
        let keys = self.keys_for(proof.envelope())?;
        verify_with(&proof, Trusted::keys(keys), &self.policy, None)?;
        Ok(proof)
    }

    /// As an Ed25519-only verifier does it (Proof, verify).
    fn verify_ed25519(&self, bytes: &[u8]) -> Result<Proof> {
        let proof = Proof::parse(bytes, &self.limits)?;
        verify(&proof, self.keys_for(proof.envelope())?, &self.policy)?;
        Ok(proof)
    }
}

/// The code of a proof under a vector policy, configuration errors included,
/// after checking that both verification paths agree.
fn verdict(bytes: &[u8], policy: &Value, label: &str) -> Option<ErrorCode> {
    let verifier = match configure(policy) {
        Ok(verifier) => verifier,
        Err(e) => return Some(e.code()),
    };
    let any = verifier.verify_any(bytes);
    let ed25519 = verifier.verify_ed25519(bytes);
    assert_eq!(code_of(&any), code_of(&ed25519), "{label}: AnyProof and Proof paths differ");
    if let Ok(proof) = &any {
        check_accepted(proof.envelope(), bytes, &verifier.policy, label);
    }
    code_of(&any)
}

/// What a valid verdict establishes, against the proof text itself.
fn check_accepted(envelope: &Envelope, bytes: &[u8], policy: &Policy, label: &str) {
    let text: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(envelope.audience(), str_of(&text, "audience"), "{label}");
    assert_eq!(envelope.audience(), policy.audience, "{label}");
    assert_eq!(envelope.nonce(), str_of(&text, "nonce"), "{label}");
    let timestamp = text["timestamp"].as_f64().unwrap() as u64; // valid_version_1_0 spells numbers as decimals
    assert_eq!(envelope.timestamp_ms(), timestamp, "{label}");
    assert_eq!(policy.expires_at(envelope), timestamp + policy.max_age_ms, "{label}");
    assert_eq!(envelope.subject(), text["context"]["subject"].as_str(), "{label}");
    let json::Value::Object(members) = json::parse(bytes, &Limits::DEFAULT).unwrap() else { panic!("{label}") };
    let context = canonicalize(members.get("context").unwrap());
    assert_eq!(envelope.canonical_context(), context, "{label}");
    assert_eq!(envelope.context_digest(), &<[u8; 32]>::from(Sha256::digest(&context)), "{label}");
}

fn proof_bytes(entry: &Value) -> Vec<u8> {
    match entry.get("proof_hex") {
        Some(hex_text) => hex::decode(hex_text.as_str().unwrap()).unwrap(),
        None => str_of(entry, "proof_json").as_bytes().to_vec(),
    }
}

// ---------------------------------------------------------------- proof_v1.json: signed cases

// How many entries the files hold today: every entry is run (the count must
// equal the file's), and a file with fewer than these has lost cases.
const PROOF_CASES: usize = 6;
const PROOF_VERDICTS: usize = 137;
const CANONICAL_CASES: usize = 119;
const EDGE_KEYS: usize = 55;
const EDGE_SIGNATURES: usize = 30;

/// Every entry of the file ran, and the file has not shrunk.
fn assert_all_ran(checked: usize, entries: &[Value], at_least: usize) {
    assert_eq!(checked, entries.len(), "not every entry was run");
    assert!(checked >= at_least, "only {checked} entries, expected at least {at_least}");
}

#[test]
fn proof_cases_keys() {
    let file = load("proof_v1.json");
    let mut checked = 0;
    for case in entries(&file, "cases") {
        let label = name(case);
        let key = SigningKey::from_seed(&hex_of(case, "seed_hex").try_into().unwrap());
        let public = key.public_key();
        assert_eq!(public.as_bytes().to_vec(), hex_of(case, "public_key_hex"), "{label}");
        assert_eq!(encode_base64(public.as_bytes()), str_of(case, "public_key_b64"), "{label}");
        assert_eq!(encode_base64(&public.to_spki_der()), str_of(case, "public_key_spki_b64"), "{label}");
        assert_eq!(public.key_id(), str_of(case, "key_id"), "{label}");
        assert_eq!(trusted_key(str_of(case, "public_key_spki_b64")).unwrap(), public, "{label}");
        assert_eq!(trusted_key(str_of(case, "public_key_b64")).unwrap(), public, "{label}");
        checked += 1;
    }
    assert_all_ran(checked, entries(&file, "cases"), PROOF_CASES);
}

#[test]
fn proof_cases_canonical_context_and_digests() {
    let file = load("proof_v1.json");
    let mut checked = 0;
    for case in entries(&file, "cases") {
        let label = name(case);
        let canonical = hex_of(case, "canonical_context_hex");
        assert_eq!(canonical, str_of(case, "canonical_context").as_bytes(), "{label}");
        let text = str_of(case, "context_json");
        assert_eq!(canonicalize_json(text.as_bytes(), &Limits::default()).unwrap(), canonical, "{label}");
        let context = context_object(text);
        assert_eq!(canonicalize_object(&context), canonical, "{label}");
        assert_eq!(canonicalize(&json::Value::Object(context)), canonical, "{label}");
        let context_digest = digest::context_digest(&canonical);
        assert_eq!(context_digest.to_vec(), hex_of(case, "context_digest_hex"), "{label}");
        assert_eq!(digest::fingerprint(&context_digest), str_of(case, "fingerprint"), "{label}");
        checked += 1;
    }
    assert_all_ran(checked, entries(&file, "cases"), PROOF_CASES);
}

#[test]
fn proof_cases_sign_reproduces_the_proof() {
    let file = load("proof_v1.json");
    let mut checked = 0;
    for case in entries(&file, "cases") {
        let label = name(case);
        let key = SigningKey::from_seed(&hex_of(case, "seed_hex").try_into().unwrap());
        let envelope = Envelope::new(
            context_object(str_of(case, "context_json")),
            str_of(case, "audience").to_owned(),
            u64_of(case, "timestamp_ms"),
            str_of(case, "nonce"),
        )
        .unwrap();
        assert_eq!(envelope.signing_payload(), hex_of(case, "payload_hex"), "{label}");
        assert_eq!(envelope.signed_digest().to_vec(), hex_of(case, "signed_digest_hex"), "{label}");
        assert_eq!(envelope.context_digest().to_vec(), hex_of(case, "context_digest_hex"), "{label}");
        assert_eq!(envelope.canonical_context(), str_of(case, "canonical_context").as_bytes(), "{label}");
        let proof = envelope.sign(&key);
        assert_eq!(proof.to_json(), str_of(case, "proof_json").as_bytes(), "{label}");
        assert_eq!(proof.signature().to_vec(), hex_of(case, "signature_hex"), "{label}");
        assert_eq!(encode_base64(proof.signature()), str_of(case, "signature_b64"), "{label}");
        assert_eq!(proof.key_id(), str_of(case, "key_id"), "{label}");
        // A signature made elsewhere assembles into the same proof.
        let assembled = proof.envelope().clone().into_proof(*key.public_key().as_bytes(), *proof.signature());
        assert_eq!(assembled, proof, "{label}");
        checked += 1;
    }
    assert_all_ran(checked, entries(&file, "cases"), PROOF_CASES);
}

#[test]
fn proof_cases_parse_reproduces_every_value() {
    let file = load("proof_v1.json");
    let mut checked = 0;
    for case in entries(&file, "cases") {
        let label = name(case);
        let text = str_of(case, "proof_json");
        let proof = Proof::parse(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(proof.to_json(), text.as_bytes(), "{label}");
        let envelope = proof.envelope();
        assert_eq!(envelope.audience(), str_of(case, "audience"), "{label}");
        assert_eq!(envelope.nonce(), str_of(case, "nonce"), "{label}");
        assert_eq!(envelope.timestamp_ms(), u64_of(case, "timestamp_ms"), "{label}");
        assert_eq!(proof.key_id(), str_of(case, "key_id"), "{label}");
        assert_eq!(encode_base64(proof.public_key()), str_of(case, "public_key_b64"), "{label}");
        assert_eq!(proof.signature().to_vec(), hex_of(case, "signature_hex"), "{label}");
        assert_eq!(envelope.signing_payload(), hex_of(case, "payload_hex"), "{label}");
        assert_eq!(envelope.signed_digest().to_vec(), hex_of(case, "signed_digest_hex"), "{label}");
        assert_eq!(envelope.context_digest().to_vec(), hex_of(case, "context_digest_hex"), "{label}");
        let context = context_object(str_of(case, "context_json"));
        assert_eq!(canonicalize_object(envelope.context()), canonicalize_object(&context), "{label}");
        assert_eq!(envelope.subject(), context.get("subject").and_then(json::Value::as_str), "{label}");
        // AnyProof reads it the same way.
        let any = AnyProof::parse(text.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(any, AnyProof::Ed25519(proof), "{label}");
        assert_eq!(any.to_json(), text.as_bytes(), "{label}");
        checked += 1;
    }
    assert_all_ran(checked, entries(&file, "cases"), PROOF_CASES);
}

/// Section 4 written out here with sha2 and ed25519-dalek, not the core's digest module.
#[test]
fn proof_cases_match_an_independent_recomputation() {
    let file = load("proof_v1.json");
    let mut checked = 0;
    for case in entries(&file, "cases") {
        let label = name(case);
        let context_digest: [u8; 32] = Sha256::digest(hex_of(case, "canonical_context_hex")).into();
        assert_eq!(context_digest.to_vec(), hex_of(case, "context_digest_hex"), "{label}");
        let field = |bytes: &[u8]| [&u16::try_from(bytes.len()).unwrap().to_be_bytes()[..], bytes].concat();
        let nonce = decode_base64url(str_of(case, "nonce"), "nonce").unwrap();
        let payload = [
            &b"proof-messenger/v1/signing-payload\0"[..],
            &field(b"Ed25519"),
            &field(str_of(case, "audience").as_bytes()),
            &u64_of(case, "timestamp_ms").to_be_bytes(),
            &field(&nonce),
            &context_digest,
        ]
        .concat();
        assert_eq!(payload, hex_of(case, "payload_hex"), "{label}");
        let signed_digest: [u8; 32] = Sha256::digest(&payload).into();
        assert_eq!(signed_digest.to_vec(), hex_of(case, "signed_digest_hex"), "{label}");
        let jwk =
            format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, encode_base64url(&hex_of(case, "public_key_hex")));
        assert_eq!(encode_base64url(&Sha256::digest(jwk.as_bytes())), str_of(case, "key_id"), "{label}");
        let dalek =
            ed25519_dalek::VerifyingKey::from_bytes(&hex_of(case, "public_key_hex").try_into().unwrap()).unwrap();
        let signature = ed25519_dalek::Signature::from_bytes(&hex_of(case, "signature_hex").try_into().unwrap());
        dalek.verify_strict(&signed_digest, &signature).unwrap();
        checked += 1;
    }
    assert_all_ran(checked, entries(&file, "cases"), PROOF_CASES);
}

// ---------------------------------------------------------------- proof_v1.json: verdicts

#[test]
fn proof_verdicts_every_verdict_and_code() {
    let file = load("proof_v1.json");
    let verdicts = entries(&file, "verdicts");
    let mut checked = 0;
    let mut seen = BTreeSet::new();
    for entry in verdicts {
        let label = name(entry);
        let want = expected_code(entry, "expected");
        assert_eq!(verdict(&proof_bytes(entry), &entry["policy"], label), want, "{label}");
        seen.insert(want.map(ErrorCode::as_str));
        checked += 1;
    }
    assert_all_ran(checked, verdicts, PROOF_VERDICTS);
    // Every code of the Ed25519 protocol is reached (nonce_replayed needs storage), and valid verdicts too.
    let v1 = ErrorCode::ALL.iter().position(|c| *c == ErrorCode::NonceReplayed).unwrap();
    let mut want: BTreeSet<Option<&str>> = ErrorCode::ALL[..v1].iter().map(|c| Some(c.as_str())).collect();
    want.insert(None);
    assert_eq!(seen, want);
}

/// Entries sharing a policy, verified together, get their own verdicts
/// (tests/test_vectors.py::test_verdicts_in_batches_equal_single_verdicts).
#[test]
fn proof_verdicts_in_batches_equal_single_verdicts() {
    let file = load("proof_v1.json");
    let mut groups: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for entry in entries(&file, "verdicts") {
        groups.entry(entry["policy"].to_string()).or_default().push(entry);
    }
    let (mut batched, mut batched_valid, mut before_batch, mut not_configured) = (0, 0, 0, 0);
    for members in groups.values() {
        let Ok(verifier) = configure(&members[0]["policy"]) else {
            not_configured += members.len(); // configuration errors: no batch
            continue;
        };
        // Parse errors and missing subjects are decided before any batch.
        let mut parsed = Vec::new();
        for entry in members {
            let proof = AnyProof::parse(&proof_bytes(entry), &verifier.limits);
            match proof.and_then(|p| verifier.keys_for(p.envelope()).map(|k| (p, k))) {
                Ok((proof, keys)) => parsed.push((*entry, proof, keys)),
                Err(e) => {
                    assert_eq!(Some(e.code()), expected_code(entry, "expected"), "{}", name(entry));
                    before_batch += 1;
                }
            }
        }
        let items: Vec<Item<'_>> =
            parsed.iter().map(|(_, proof, keys)| Item { proof, trusted: Trusted::keys(keys) }).collect();
        let results = verify_batch_with(&items, &verifier.policy, None);
        assert_eq!(results.len(), parsed.len());
        for ((entry, _, _), result) in parsed.iter().zip(&results) {
            assert_eq!(code_of(result), expected_code(entry, "expected"), "{} (batch)", name(entry));
            batched += 1;
            batched_valid += usize::from(result.is_ok());
        }
        // The Ed25519-only batch too.
        let ed25519: Vec<(&Value, &Proof, &[PublicKey])> = parsed
            .iter()
            .map(|(entry, proof, keys)| match proof {
                AnyProof::Ed25519(p) => (*entry, p, *keys),
                AnyProof::WebAuthn(_) => panic!("{}: no WebAuthn proofs in proof_v1.json", name(entry)),
            })
            .collect();
        let items: Vec<BatchItem<'_>> =
            ed25519.iter().map(|(_, proof, trusted)| BatchItem { proof, trusted }).collect();
        for ((entry, _, _), result) in ed25519.iter().zip(verify_batch(&items, &verifier.policy)) {
            assert_eq!(code_of(&result), expected_code(entry, "expected"), "{} (Ed25519 batch)", name(entry));
        }
    }
    assert_eq!(batched + before_batch + not_configured, entries(&file, "verdicts").len());
    // Every valid verdict, and the policy and signature failures, went through a batch.
    let valid = entries(&file, "verdicts").iter().filter(|v| v["expected"]["valid"] == true).count();
    assert_eq!(batched_valid, valid);
    assert!(batched > valid, "only {batched} verdicts went through a batch");
}

// ---------------------------------------------------------------- canonical_v1.json

#[test]
fn canonical_every_output_or_error_code() {
    let file = load("canonical_v1.json");
    let cases = entries(&file, "cases");
    let mut checked = 0;
    for case in cases {
        let label = name(case);
        let input = match case.get("input_hex") {
            Some(hex_text) => hex::decode(hex_text.as_str().unwrap()).unwrap(),
            None => str_of(case, "input").as_bytes().to_vec(),
        };
        let limits = Limits {
            max_bytes: case.get("max_bytes").map_or(65_536, |v| usize::try_from(v.as_u64().unwrap()).unwrap()),
            max_depth: case.get("max_depth").map_or(32, |v| usize::try_from(v.as_u64().unwrap()).unwrap()),
        };
        let got = canonicalize_json(&input, &limits);
        match (case.get("expected"), case.get("error")) {
            (Some(expected), None) => {
                let expected = expected.as_str().unwrap().as_bytes();
                assert_eq!(got.as_deref().map_err(|e| e.code()), Ok(expected), "{label}");
                // The canonical form is a fixed point.
                assert_eq!(canonicalize_json(expected, &limits).unwrap(), expected, "{label} (fixed point)");
            }
            (None, Some(error)) => {
                let error = ErrorCode::from_code(error.as_str().unwrap()).unwrap();
                assert_eq!(code_of(&got), Some(error), "{label}");
                assert_eq!(code_of(&json::parse(&input, &limits)), Some(error), "{label} (parse)");
            }
            _ => panic!("{label}: exactly one of expected and error"),
        }
        checked += 1;
    }
    assert_all_ran(checked, cases, CANONICAL_CASES);
}

// ---------------------------------------------------------------- ed25519_edge.json

#[test]
fn edge_public_keys_raw_and_spki() {
    let file = load("ed25519_edge.json");
    let keys = entries(&file, "public_keys");
    let mut checked = 0;
    for case in keys {
        let label = name(case);
        let want = case["expected"].as_str().map(|c| ErrorCode::from_code(c).unwrap());
        let raw: [u8; 32] = hex_of(case, "public_key_hex").try_into().unwrap();
        let spki = [&SPKI_PREFIX[..], &raw].concat();
        assert_eq!(code_of(&PublicKey::from_bytes(&raw)), want, "{label}");
        assert_eq!(code_of(&PublicKey::from_raw_or_spki(&raw)), want, "{label} (raw)");
        assert_eq!(code_of(&PublicKey::from_raw_or_spki(&spki)), want, "{label} (SPKI)");
        assert_eq!(code_of(&trusted_key(&encode_base64(&spki))), want, "{label} (SPKI base64)");
        assert_eq!(code_of(&trusted_key(&encode_base64(&raw))), want, "{label} (raw base64)");
        checked += 1;
    }
    assert_all_ran(checked, keys, EDGE_KEYS);
}

/// A weak or invalid key in a proof parses (it is only a hint) and is then untrusted.
#[test]
fn edge_public_keys_in_a_proof_are_never_trusted() {
    let file = load("ed25519_edge.json");
    let honest = SigningKey::from_seed(&[0; 32]).public_key();
    let policy = Policy::new("edge", 0);
    let mut checked = 0;
    for case in entries(&file, "public_keys") {
        let label = name(case);
        let raw: [u8; 32] = hex_of(case, "public_key_hex").try_into().unwrap();
        let envelope = Envelope::new(Object::new(), "edge".into(), 0, &encode_base64url(&[0; 16])).unwrap();
        let text = envelope.into_proof(raw, [0; 64]).to_json();
        let proof = AnyProof::parse(&text, &Limits::default()).unwrap();
        let got = verify_with(&proof, Trusted::keys(std::slice::from_ref(&honest)), &policy, None);
        assert_eq!(code_of(&got), Some(ErrorCode::UntrustedKey), "{label}");
        let got = verify_with(&proof, Trusted::keys(&[]), &policy, None);
        assert_eq!(code_of(&got), Some(ErrorCode::UntrustedKey), "{label} (no trusted key)");
        checked += 1;
    }
    assert_all_ran(checked, entries(&file, "public_keys"), EDGE_KEYS);
}

/// The strict rule's verdict on raw (key, message, signature).
fn strict_verdict(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let key = PublicKey::from_bytes(&public_key.try_into().unwrap());
    key.is_ok_and(|key| ed25519::verify(&key, message, &signature.try_into().unwrap()).is_ok())
}

fn dalek_verdict(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&public_key.try_into().unwrap()) else { return false };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.try_into().unwrap())).is_ok()
}

#[test]
fn edge_signatures_alone_and_in_their_proofs() {
    let file = load("ed25519_edge.json");
    let signatures = entries(&file, "signatures");
    let mut checked = 0;
    for case in signatures {
        let label = name(case);
        let (public_key, message, signature) =
            (hex_of(case, "public_key_hex"), hex_of(case, "message_hex"), hex_of(case, "signature_hex"));
        let valid = case["valid"].as_bool().unwrap();
        assert_eq!(strict_verdict(&public_key, &message, &signature), valid, "{label}");
        assert_eq!(case["rejected_by"].is_null(), valid, "{label}: rejected_by");
        // The file's claim about the cofactorless rule (ed25519-dalek verify_strict).
        let cofactorless = case["cofactorless_valid"].as_bool().unwrap();
        assert_eq!(dalek_verdict(&public_key, &message, &signature), cofactorless, "{label} (cofactorless)");
        // Inside its proof, under its policy.
        let text = str_of(case, "proof_json").as_bytes();
        let parsed = Proof::parse(text, &Limits::default()).unwrap();
        assert_eq!(parsed.signature().to_vec(), signature, "{label}");
        assert_eq!(parsed.envelope().signed_digest().to_vec(), message, "{label}");
        assert_eq!(parsed.public_key().to_vec(), public_key, "{label}");
        let want = expected_code(case, "proof_expected");
        assert_eq!(verdict(text, &case["proof_policy"], label), want, "{label}");
        checked += 1;
    }
    assert_all_ran(checked, signatures, EDGE_SIGNATURES);
}

/// tests/test_ed25519_edge.py::test_all_edge_signatures_in_one_batch_match_single_verification
#[test]
fn edge_signatures_in_one_batch_match_single_verification() {
    let file = load("ed25519_edge.json");
    let signatures = entries(&file, "signatures");
    let keys: Vec<PublicKey> = signatures
        .iter()
        .map(|s| trusted_key(s["proof_policy"]["trusted_public_keys_b64"][0].as_str().unwrap()).unwrap())
        .collect();
    let proofs: Vec<Proof> = signatures
        .iter()
        .map(|s| Proof::parse(str_of(s, "proof_json").as_bytes(), &Limits::default()).unwrap())
        .collect();
    let policy = Policy::new("edge-tests", u64_of(&signatures[0]["proof_policy"], "now_ms"));
    // More than one chunk of survivors, repeated items.
    let items: Vec<BatchItem<'_>> =
        (0..3).flat_map(|_| proofs.iter()).map(|proof| BatchItem { proof, trusted: &keys }).collect();
    let results = verify_batch(&items, &policy);
    assert_eq!(results.len(), 3 * signatures.len());
    for (i, result) in results.iter().enumerate() {
        let case = &signatures[i % signatures.len()];
        assert_eq!(code_of(result), expected_code(case, "proof_expected"), "{} (batch)", name(case));
    }
    // Torsion-only signatures alone and among honest ones.
    let honest = signatures.iter().position(|s| name(s) == "honest").unwrap();
    let mut torsion = 0;
    for (i, case) in signatures.iter().enumerate() {
        if !(name(case).starts_with("torsion_r_order_") || name(case).starts_with("mixed_order_key_")) {
            continue;
        }
        for group in [vec![i], vec![i, honest], vec![honest, i, honest, i]] {
            let items: Vec<BatchItem<'_>> =
                group.iter().map(|&j| BatchItem { proof: &proofs[j], trusted: &keys }).collect();
            assert!(verify_batch(&items, &policy).iter().all(Result::is_ok), "{}", name(case));
        }
        torsion += 1;
    }
    assert!(torsion >= 6, "only {torsion} torsion cases");
}

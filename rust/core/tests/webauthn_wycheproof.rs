//! Wycheproof through the WebAuthn signature paths of `cose`: ES256 (P-256,
//! DER signatures; every compiled-in backend) and RS256 (PKCS#1 v1.5, 2048
//! bits). Every "valid" case verifies, every "invalid" one does not, and all
//! P-256 backends agree on every case. Vectors: tests/vectors/wycheproof
//! (C2SP/wycheproof, Apache-2.0; see PROVENANCE.md there).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::PathBuf;

use proof_messenger_core::cose::{CoseAlgorithm, CoseKey, P256Backend};
use serde_json::Value;

fn suite(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/wycheproof").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// A big-endian integer as exactly `len` bytes (Wycheproof may add a sign byte or drop zeros).
fn fixed(bytes: &[u8], len: usize) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    assert!(trimmed.len() <= len);
    let mut out = vec![0u8; len - trimmed.len()];
    out.extend(trimmed);
    out
}

/// CBOR byte string header + bytes.
fn bstr(bytes: &[u8]) -> Vec<u8> {
    let mut out = match bytes.len() {
        n if n < 24 => vec![0x40 | n as u8],
        n if n < 256 => vec![0x58, n as u8],
        n => vec![0x59, (n >> 8) as u8, n as u8],
    };
    out.extend_from_slice(bytes);
    out
}

fn es256_key(x: &[u8], y: &[u8]) -> Vec<u8> {
    // {1: 2, 3: -7, -1: 1, -2: x, -3: y}
    let mut cose = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
    cose.extend(bstr(x));
    cose.push(0x22);
    cose.extend(bstr(y));
    cose
}

fn rs256_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    // {1: 3, 3: -257, -1: n, -2: e}
    let mut cose = vec![0xa4, 0x01, 0x03, 0x03, 0x39, 0x01, 0x00, 0x20];
    cose.extend(bstr(n));
    cose.push(0x21);
    cose.extend(bstr(e));
    cose
}

#[derive(Default, Debug)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
}

fn check(tally: &mut Tally, id: &Value, result: &str, accepted: bool) {
    match result {
        "valid" => {
            assert!(accepted, "tcId {id}: valid signature rejected");
            tally.valid += 1;
        }
        "invalid" => {
            assert!(!accepted, "tcId {id}: invalid signature accepted");
            tally.invalid += 1;
        }
        "acceptable" if accepted => tally.acceptable_accepted += 1,
        "acceptable" => tally.acceptable_rejected += 1,
        other => panic!("tcId {id}: unknown result {other}"),
    }
}

#[test]
fn ecdsa_p256_sha256_der_every_backend() {
    let suite = suite("ecdsa_secp256r1_sha256_test.json");
    let mut tally = Tally::default();
    for group in suite["testGroups"].as_array().unwrap() {
        let public = &group["publicKey"];
        assert_eq!(public["curve"], "secp256r1");
        let key =
            CoseKey::from_cbor(&es256_key(&fixed(&hex(&public["wx"]), 32), &fixed(&hex(&public["wy"]), 32))).unwrap();
        assert_eq!(key.algorithm(), CoseAlgorithm::Es256);
        for test in group["tests"].as_array().unwrap() {
            let (msg, sig) = (hex(&test["msg"]), hex(&test["sig"]));
            let verdicts: Vec<bool> =
                P256Backend::ALL.iter().map(|b| key.verify_with(*b, &msg, &sig).is_ok()).collect();
            assert!(
                verdicts.windows(2).all(|w| w[0] == w[1]),
                "tcId {}: backends disagree: {verdicts:?}",
                test["tcId"]
            );
            assert_eq!(key.verify(&msg, &sig).is_ok(), verdicts[0]);
            check(&mut tally, &test["tcId"], test["result"].as_str().unwrap(), verdicts[0]);
        }
    }
    assert_eq!(
        tally.valid + tally.invalid + tally.acceptable_accepted + tally.acceptable_rejected,
        suite["numberOfTests"].as_u64().unwrap() as usize
    );
    assert!(tally.valid > 100 && tally.invalid > 200, "{tally:?}");
    eprintln!("ecdsa_secp256r1_sha256 ({} backend(s)): {tally:?}", P256Backend::ALL.len());
}

#[test]
fn rsa_pkcs1v15_2048_sha256() {
    let suite = suite("rsa_signature_2048_sha256_test.json");
    let mut tally = Tally::default();
    for group in suite["testGroups"].as_array().unwrap() {
        let public = &group["publicKey"];
        let n = fixed(&hex(&public["modulus"]), 256);
        let e = hex(&public["publicExponent"]);
        let e: Vec<u8> = e.into_iter().skip_while(|b| *b == 0).collect();
        let key = CoseKey::from_cbor(&rs256_key(&n, &e)).unwrap();
        assert_eq!(key.algorithm(), CoseAlgorithm::Rs256);
        for test in group["tests"].as_array().unwrap() {
            let accepted = key.verify(&hex(&test["msg"]), &hex(&test["sig"])).is_ok();
            check(&mut tally, &test["tcId"], test["result"].as_str().unwrap(), accepted);
        }
    }
    assert_eq!(
        tally.valid + tally.invalid + tally.acceptable_accepted + tally.acceptable_rejected,
        suite["numberOfTests"].as_u64().unwrap() as usize
    );
    // The one "acceptable" case (a DigestInfo without the NULL parameter) is rejected: strict PKCS#1.
    assert_eq!(tally.acceptable_accepted, 0, "{tally:?}");
    eprintln!("rsa_signature_2048_sha256: {tally:?}");
}

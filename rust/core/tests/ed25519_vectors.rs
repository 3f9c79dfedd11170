//! Known-answer tests of the strict Ed25519 rule: RFC 8032 section 7.1 and
//! Wycheproof EdDSA, and agreement with ed25519-dalek's `verify_strict` on all
//! of them (the rules differ only on torsion-only signatures, which these
//! suites do not contain; see tests/batch_equivalence.rs for those).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use proof_messenger_core::ed25519::{self, PublicKey, SigningKey};
use serde_json::Value;

fn vectors_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn bytes(hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text).unwrap()
}

/// Our verdict on (key, message, signature) as raw bytes.
fn strict_verdict(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(pk): Result<[u8; 32], _> = pk.try_into() else { return false };
    let Ok(sig): Result<[u8; 64], _> = sig.try_into() else { return false };
    match PublicKey::from_bytes(&pk) {
        Ok(key) => ed25519::verify(&key, msg, &sig).is_ok(),
        Err(_) => false,
    }
}

fn dalek_verdict(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(pk): Result<[u8; 32], _> = pk.try_into() else { return false };
    let Ok(sig): Result<[u8; 64], _> = sig.try_into() else { return false };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&pk) else { return false };
    key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig)).is_ok()
}

#[test]
fn rfc8032_section_7_1() {
    // (secret, public, message, signature): TEST 1, 2, 3 and SHA(abc) of RFC 8032 section 7.1.
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
        (
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        ),
    ];
    for (secret, public, message, signature) in cases {
        let key = SigningKey::from_seed(&bytes(secret).try_into().unwrap());
        assert_eq!(key.public_key().as_bytes().to_vec(), bytes(public));
        assert_eq!(key.sign(&bytes(message)).to_vec(), bytes(signature));
        assert!(strict_verdict(&bytes(public), &bytes(message), &bytes(signature)));
    }
}

#[test]
fn wycheproof_eddsa_every_verdict_matches() {
    let text = std::fs::read_to_string(vectors_dir().join("wycheproof/ed25519_test.json")).unwrap();
    let suite: Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for group in suite["testGroups"].as_array().unwrap() {
        let pk = bytes(group["publicKey"]["pk"].as_str().unwrap());
        for case in group["tests"].as_array().unwrap() {
            let msg = bytes(case["msg"].as_str().unwrap());
            let sig = bytes(case["sig"].as_str().unwrap());
            let expected = match case["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {}: unexpected result {other}", case["tcId"]),
            };
            let ours = strict_verdict(&pk, &msg, &sig);
            assert_eq!(ours, expected, "tcId {} ({})", case["tcId"], case["comment"]);
            assert_eq!(ours, dalek_verdict(&pk, &msg, &sig), "tcId {} differs from verify_strict", case["tcId"]);
            checked += 1;
        }
    }
    assert_eq!(checked, suite["numberOfTests"].as_u64().unwrap() as usize);
}

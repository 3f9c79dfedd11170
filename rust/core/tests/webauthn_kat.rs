//! Known-answer tests: published WebAuthn responses (tests/vectors/webauthn/kat.json,
//! provenance in tests/vectors/webauthn/PROVENANCE.md) through the core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::PathBuf;

use proof_messenger_core::encoding::decode_base64url;
use proof_messenger_core::webauthn::{verify_assertion, verify_registration, Assertion, Credential, RelyingParty};
use proof_messenger_core::ErrorCode;
use serde_json::Value;

fn kat() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors/webauthn/kat.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn b64(v: &Value) -> Vec<u8> {
    decode_base64url(v.as_str().unwrap(), "vector").unwrap()
}

fn relying_party(case: &Value) -> RelyingParty {
    let origins: Vec<String> =
        case["origins"].as_array().unwrap().iter().map(|o| o.as_str().unwrap().to_owned()).collect();
    let mut rp = RelyingParty::new(case["rp_id"].as_str().unwrap(), origins);
    rp.require_user_verification = case["require_user_verification"].as_bool().unwrap();
    rp
}

fn expected_code(case: &Value) -> Option<ErrorCode> {
    case["expected"]["code"].as_str().map(|c| ErrorCode::from_code(c).unwrap())
}

fn assertion_of(case: &Value) -> Assertion {
    let r = &case["response"];
    Assertion::new(
        b64(&r["credential_id"]),
        &b64(&r["authenticator_data"]),
        b64(&r["client_data_json"]),
        b64(&r["signature"]),
        r.get("user_handle").map(b64),
    )
    .unwrap()
}

fn credential_of(case: &Value, sign_count: u32) -> Credential {
    let c = &case["credential"];
    Credential::from_cose(b64(&c["id"]), &b64(&c["public_key"]), sign_count).unwrap()
}

#[test]
fn published_assertions_get_their_verdicts() {
    let kat = kat();
    let cases = kat["assertions"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let stored = u32::try_from(case["credential"]["sign_count"].as_u64().unwrap()).unwrap();
        let challenge = case["challenge"].as_str().unwrap();
        let outcome =
            verify_assertion(&assertion_of(case), challenge, &credential_of(case, stored), &relying_party(case));
        match (outcome, expected_code(case)) {
            (Ok(state), None) => {
                let e = &case["expected"];
                assert_eq!(u64::from(state.sign_count), e["sign_count"].as_u64().unwrap(), "{name}");
                assert_eq!(state.flags.user_verified(), e["user_verified"].as_bool().unwrap(), "{name}");
                assert_eq!(state.flags.backup_eligible(), e["backup_eligible"].as_bool().unwrap(), "{name}");
                assert_eq!(state.flags.backup_state(), e["backup_state"].as_bool().unwrap(), "{name}");
            }
            (Err(e), Some(code)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

/// Every valid published assertion, with one policy input changed, gets the
/// code of the step that input decides (docs/PROTOCOL.md section 10.4).
#[test]
fn published_assertions_under_changed_policy() {
    let kat = kat();
    for case in kat["assertions"].as_array().unwrap().iter().filter(|c| expected_code(c).is_none()) {
        let name = case["name"].as_str().unwrap();
        let assertion = assertion_of(case);
        let stored = u32::try_from(case["credential"]["sign_count"].as_u64().unwrap()).unwrap();
        let challenge = case["challenge"].as_str().unwrap();
        let code = |challenge: &str, credential: &Credential, rp: &RelyingParty| {
            verify_assertion(&assertion, challenge, credential, rp).err().map(|e| e.code())
        };
        let credential = credential_of(case, stored);
        let rp = relying_party(case);
        assert_eq!(code("AAAA", &credential, &rp), Some(ErrorCode::ChallengeMismatch), "{name}");
        let mut other = rp.clone();
        other.origins = vec!["https://evil.example".into()];
        assert_eq!(code(challenge, &credential, &other), Some(ErrorCode::OriginNotAllowed), "{name}");
        let mut other = rp.clone();
        other.rp_id = "example.com".into();
        assert_eq!(code(challenge, &credential, &other), Some(ErrorCode::RpIdMismatch), "{name}");
        let new_count = u32::try_from(case["expected"]["sign_count"].as_u64().unwrap()).unwrap();
        let replayed = credential_of(case, new_count.max(1));
        assert_eq!(code(challenge, &replayed, &rp), Some(ErrorCode::CounterNotIncreasing), "{name}");
        if !case["expected"]["user_verified"].as_bool().unwrap() {
            let mut strict = rp.clone();
            strict.require_user_verification = true;
            assert_eq!(code(challenge, &credential, &strict), Some(ErrorCode::UserNotVerified), "{name}");
        }
        // Another credential's key: the signature does not verify.
        let foreign =
            kat["assertions"].as_array().unwrap().iter().find(|c| {
                c["name"] != case["name"] && c["credential"]["public_key"] != case["credential"]["public_key"]
            });
        let foreign = Credential::from_cose(
            b64(&case["credential"]["id"]),
            &b64(&foreign.unwrap()["credential"]["public_key"]),
            stored,
        )
        .unwrap();
        assert_eq!(code(challenge, &foreign, &rp), Some(ErrorCode::BadSignature), "{name}");
    }
}

#[test]
fn published_registrations_get_their_verdicts() {
    let kat = kat();
    let cases = kat["registrations"].as_array().unwrap();
    assert!(cases.len() >= 7);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let challenge = b64(&case["challenge"]);
        let outcome = verify_registration(
            &b64(&case["attestation_object"]),
            &b64(&case["client_data_json"]),
            &challenge,
            &relying_party(case),
        );
        match (outcome, expected_code(case)) {
            (Ok(registration), None) => {
                let e = &case["expected"];
                assert_eq!(registration.format().as_str(), e["format"].as_str().unwrap(), "{name}");
                assert_eq!(registration.credential().id(), b64(&e["credential_id"]).as_slice(), "{name}");
                assert_eq!(registration.credential().public_key().algorithm().id(), e["algorithm"].as_i64().unwrap());
                if let Some(key) = e.get("public_key") {
                    assert_eq!(registration.credential().public_key().as_bytes(), b64(key).as_slice(), "{name}");
                }
                if let Some(count) = e.get("sign_count") {
                    assert_eq!(u64::from(registration.credential().sign_count()), count.as_u64().unwrap(), "{name}");
                }
                if let Some(aaguid) = e.get("aaguid") {
                    assert_eq!(hex::encode(registration.aaguid()), aaguid.as_str().unwrap(), "{name}");
                }
                if let Some(uv) = e.get("user_verified") {
                    assert_eq!(registration.flags().user_verified(), uv.as_bool().unwrap(), "{name}");
                }
            }
            (Err(e), Some(code)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

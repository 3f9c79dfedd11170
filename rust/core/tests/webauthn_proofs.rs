//! WebAuthn proofs end to end in the core, with a software authenticator:
//! wire format, challenge binding, every reason code in the order of
//! docs/PROTOCOL.md section 10, registration, and batch == single.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, clippy::large_enum_variant)]

use p256::ecdsa::signature::Signer;
use proof_messenger_core::batch::{verify_batch_with, Item};
use proof_messenger_core::digest;
use proof_messenger_core::ed25519::SigningKey;
use proof_messenger_core::encoding::encode_base64url;
use proof_messenger_core::json::{parse, Limits, Object, Value};
use proof_messenger_core::proof::{AnyProof, Envelope, Proof};
use proof_messenger_core::verify::{verify_with, Policy, Trusted, Verified};
use proof_messenger_core::webauthn::{self, verify_registration, Assertion, Credential, RelyingParty};
use proof_messenger_core::ErrorCode;
use sha2::{Digest, Sha256};

const RP_ID: &str = "bank.example";
const ORIGIN: &str = "https://bank.example";
const NOW: u64 = 1_764_331_200_000;
const NONCE: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

// ---------------------------------------------------------------- CBOR, by hand

fn head(major: u8, n: usize) -> Vec<u8> {
    match n {
        n if n < 24 => vec![(major << 5) | n as u8],
        n if n < 256 => vec![(major << 5) | 24, n as u8],
        n => vec![(major << 5) | 25, (n >> 8) as u8, n as u8],
    }
}
fn bstr(b: &[u8]) -> Vec<u8> {
    let mut out = head(2, b.len());
    out.extend_from_slice(b);
    out
}
fn tstr(s: &str) -> Vec<u8> {
    let mut out = head(3, s.len());
    out.extend_from_slice(s.as_bytes());
    out
}
fn int(i: i64) -> Vec<u8> {
    if i >= 0 {
        head(0, i as usize)
    } else {
        head(1, (-1 - i) as usize)
    }
}
fn map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = head(5, entries.len());
    for (k, v) in entries {
        out.extend_from_slice(k);
        out.extend_from_slice(v);
    }
    out
}

// ---------------------------------------------------------------- a software authenticator

enum Key {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(SigningKey),
}

struct Authenticator {
    key: Key,
    credential_id: Vec<u8>,
}

impl Authenticator {
    fn es256(seed: u8) -> Authenticator {
        let key = p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap();
        Authenticator { key: Key::Es256(key), credential_id: vec![seed; 20] }
    }
    fn eddsa(seed: u8) -> Authenticator {
        Authenticator { key: Key::EdDsa(SigningKey::from_seed(&[seed; 32])), credential_id: vec![seed; 24] }
    }
    fn alg(&self) -> i64 {
        match self.key {
            Key::Es256(_) => -7,
            Key::EdDsa(_) => -8,
        }
    }
    fn cose(&self) -> Vec<u8> {
        match &self.key {
            Key::Es256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                map(&[
                    (int(1), int(2)),
                    (int(3), int(-7)),
                    (int(-1), int(1)),
                    (int(-2), bstr(point.x().unwrap())),
                    (int(-3), bstr(point.y().unwrap())),
                ])
            }
            Key::EdDsa(k) => map(&[
                (int(1), int(1)),
                (int(3), int(-8)),
                (int(-1), int(6)),
                (int(-2), bstr(k.public_key().as_bytes())),
            ]),
        }
    }
    fn credential(&self, sign_count: u32) -> Credential {
        Credential::from_cose(self.credential_id.clone(), &self.cose(), sign_count).unwrap()
    }
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Key::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            Key::EdDsa(k) => k.sign(message).to_vec(),
        }
    }
}

fn auth_data(rp_id: &str, flags: u8, count: u32, tail: &[u8]) -> Vec<u8> {
    let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
    out.push(flags);
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(tail);
    out
}

fn client_data(kind: &str, challenge: &str, origin: &str, extra: &str) -> Vec<u8> {
    format!(r#"{{"type":"{kind}","challenge":"{challenge}","origin":"{origin}","crossOrigin":false{extra}}}"#)
        .into_bytes()
}

fn signed(authenticator: &Authenticator, auth_data: &[u8], client_data: &[u8]) -> Vec<u8> {
    let mut message = auth_data.to_vec();
    message.extend_from_slice(&Sha256::digest(client_data));
    authenticator.sign(&message)
}

fn context(json: &str) -> Object {
    let Value::Object(o) = parse(json.as_bytes(), &Limits::default()).unwrap() else { panic!() };
    o
}

fn envelope() -> Envelope {
    let ctx =
        context(r#"{"action":"wire_transfer","amount":"50000.00","currency":"EUR","subject":"alice","to":"ACME"}"#);
    Envelope::new(ctx, "payments-api".into(), NOW - 1_000, NONCE).unwrap()
}

/// The JSON of a WebAuthn proof over `envelope`, with the parts a test may override.
struct Parts {
    flags: u8,
    count: u32,
    kind: &'static str,
    challenge: Option<String>,
    origin: &'static str,
    client_extra: &'static str,
    rp_id: &'static str,
}

impl Default for Parts {
    fn default() -> Parts {
        Parts {
            flags: 0x05,
            count: 7,
            kind: "webauthn.get",
            challenge: None,
            origin: ORIGIN,
            client_extra: "",
            rp_id: RP_ID,
        }
    }
}

fn webauthn_proof(authenticator: &Authenticator, envelope: Envelope, parts: Parts) -> AnyProof {
    let challenge = parts.challenge.unwrap_or_else(|| webauthn::challenge(&envelope));
    let data = auth_data(parts.rp_id, parts.flags, parts.count, &[]);
    let cdj = client_data(parts.kind, &challenge, parts.origin, parts.client_extra);
    let sig = signed(authenticator, &data, &cdj);
    let assertion = Assertion::new(authenticator.credential_id.clone(), &data, cdj, sig, None).unwrap();
    AnyProof::WebAuthn(envelope.into_webauthn_proof(assertion))
}

fn rp() -> RelyingParty {
    RelyingParty::new(RP_ID, [ORIGIN])
}

fn code_of(proof: &AnyProof, credentials: &[Credential], rp: Option<&RelyingParty>) -> Option<ErrorCode> {
    let policy = Policy::new("payments-api", NOW);
    verify_with(proof, Trusted { keys: &[], credentials }, &policy, rp).err().map(|e| e.code())
}

fn parse_code(json: &str) -> Option<ErrorCode> {
    AnyProof::parse(json.as_bytes(), &Limits::default()).err().map(|e| e.code())
}

// ---------------------------------------------------------------- tests

#[test]
fn challenge_is_the_webauthn_signed_digest() {
    let env = envelope();
    let payload = digest::signing_payload(
        "WebAuthn",
        "payments-api",
        NOW - 1_000,
        &[
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
            29, 30, 31,
        ],
        env.context_digest(),
    );
    let expected = encode_base64url(&digest::signed_digest(&payload));
    assert_eq!(webauthn::challenge(&env), expected);
    assert_eq!(expected.len(), 43);
    // The Ed25519 digest of the same envelope differs: the algorithm is signed.
    assert_ne!(encode_base64url(env.signed_digest()), expected);
    let as_webauthn = env.clone().with_algorithm(proof_messenger_core::proof::Algorithm::WebAuthn);
    assert_eq!(encode_base64url(as_webauthn.signed_digest()), expected);
}

#[test]
fn valid_proofs_round_trip_and_report_the_new_state() {
    for authenticator in [Authenticator::es256(3), Authenticator::eddsa(4)] {
        let proof = webauthn_proof(&authenticator, envelope(), Parts { flags: 0x1d, count: 42, ..Parts::default() });
        let json = proof.to_json();
        let again = AnyProof::parse(&json, &Limits::default()).unwrap();
        assert_eq!(again, proof);
        assert_eq!(again.key_id(), encode_base64url(&authenticator.credential_id));
        let policy = Policy::new("payments-api", NOW);
        let credentials = [authenticator.credential(41)];
        let verified =
            verify_with(&again, Trusted { keys: &[], credentials: &credentials }, &policy, Some(&rp())).unwrap();
        let Verified::WebAuthn(state) = verified else { panic!("{verified:?}") };
        assert_eq!(state.sign_count, 42);
        assert!(state.flags.user_verified() && state.flags.backup_eligible() && state.flags.backup_state());
        // An authenticator without a counter (always 0) is fine while the stored one is 0.
        let zero = webauthn_proof(&authenticator, envelope(), Parts { count: 0, ..Parts::default() });
        assert_eq!(code_of(&zero, &[authenticator.credential(0)], Some(&rp())), None);
    }
}

#[test]
fn ed25519_only_parsers_and_verifiers_refuse_webauthn_proofs() {
    let a = Authenticator::es256(5);
    let json = webauthn_proof(&a, envelope(), Parts::default()).to_json();
    let err = Proof::parse(&json, &Limits::default()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnsupportedAlgorithm);
    let proof = AnyProof::parse(&json, &Limits::default()).unwrap();
    assert_eq!(code_of(&proof, &[a.credential(0)], None), Some(ErrorCode::UnsupportedAlgorithm));
    // And Ed25519 proofs are unchanged by the new kind.
    let key = SigningKey::from_seed(&[9; 32]);
    let ed = AnyProof::Ed25519(envelope().sign(&key));
    let policy = Policy::new("payments-api", NOW);
    let keys = [key.public_key()];
    assert_eq!(verify_with(&ed, Trusted::keys(&keys), &policy, Some(&rp())).unwrap(), Verified::Ed25519);
}

#[test]
fn structure_errors_in_member_order() {
    let a = Authenticator::es256(6);
    let Value::Object(good) =
        parse(&webauthn_proof(&a, envelope(), Parts::default()).to_json(), &Limits::default()).unwrap()
    else {
        panic!()
    };
    let with = |name: &str, value: Option<Value>| -> String {
        let mut members: Vec<(String, Value)> =
            good.clone().into_members().into_iter().filter(|(n, _)| n != name).collect();
        if let Some(v) = value {
            members.push((name.to_owned(), v));
        }
        String::from_utf8(proof_messenger_core::canonical::canonicalize(&Value::Object(
            Object::from_members(members).unwrap(),
        )))
        .unwrap()
    };
    let s = |t: &str| Some(Value::String(t.to_owned()));
    let b64 = |b: &[u8]| Some(Value::String(encode_base64url(b)));
    assert_eq!(parse_code(&with("publicKey", s("AAAA"))), Some(ErrorCode::UnknownField));
    assert_eq!(parse_code(&with("clientDataJSON", None)), Some(ErrorCode::MissingField));
    assert_eq!(parse_code(&with("userHandle", None)), None, "userHandle is optional");
    assert_eq!(parse_code(&with("userHandle", s(""))), Some(ErrorCode::InvalidField));
    assert_eq!(parse_code(&with("userHandle", Some(Value::Null))), Some(ErrorCode::InvalidField));
    assert_eq!(parse_code(&with("credentialId", s(""))), Some(ErrorCode::InvalidField));
    assert_eq!(parse_code(&with("credentialId", s("AA=="))), Some(ErrorCode::InvalidBase64));
    assert_eq!(parse_code(&with("credentialId", Some(Value::Bool(true)))), Some(ErrorCode::InvalidField));
    assert_eq!(parse_code(&with("signature", s(""))), Some(ErrorCode::InvalidField));
    let data = auth_data(RP_ID, 0x05, 1, &[]);
    assert_eq!(parse_code(&with("authenticatorData", b64(&data[..36]))), Some(ErrorCode::InvalidAuthenticatorData));
    assert_eq!(
        parse_code(&with("authenticatorData", b64(&auth_data(RP_ID, 0x05, 1, &[0])))),
        Some(ErrorCode::InvalidAuthenticatorData)
    );
    assert_eq!(
        parse_code(&with("authenticatorData", b64(&auth_data(RP_ID, 0x15, 1, &[])))),
        Some(ErrorCode::InvalidAuthenticatorData),
        "BS without BE"
    );
    assert_eq!(
        parse_code(&with("authenticatorData", b64(&auth_data(RP_ID, 0x45, 1, &[])))),
        Some(ErrorCode::InvalidAuthenticatorData),
        "AT in an assertion"
    );
    assert_eq!(
        parse_code(&with("authenticatorData", b64(&auth_data(RP_ID, 0x85, 1, &[])))),
        Some(ErrorCode::InvalidAuthenticatorData),
        "ED without a map"
    );
    assert_eq!(
        parse_code(&with("authenticatorData", b64(&auth_data(RP_ID, 0x85, 1, &map(&[(tstr("credProtect"), int(2))]))))),
        None,
        "ED with a map"
    );
    for bad in [
        &br#"{"type":"webauthn.get","type":"x","challenge":"a","origin":"o"}"#[..],
        br#"["webauthn.get"]"#,
        br#"{"type":"webauthn.get","challenge":"a"}"#,
        br#"{"type":"webauthn.get","challenge":"a","origin":"o","crossOrigin":"false"}"#,
        br#"{"type":"webauthn.get","challenge":"a","origin":"o","topOrigin":"t"}"#,
        br#"{"type":"webauthn.get","challenge":"a","origin":"o","tokenBinding":"present"}"#,
        br#"{"type":"webauthn.get","challenge":"a","origin":"o","x":1e400}"#,
        b"\xff",
    ] {
        assert_eq!(
            parse_code(&with("clientDataJSON", b64(bad))),
            Some(ErrorCode::InvalidClientData),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // Envelope members come first: a bad nonce wins over a bad assertion member.
    let bad_both = {
        let mut m: Vec<(String, Value)> =
            good.clone().into_members().into_iter().filter(|(n, _)| n != "nonce" && n != "signature").collect();
        m.push(("nonce".into(), Value::String("AAAA".into())));
        m.push(("signature".into(), Value::String("!".into())));
        String::from_utf8(proof_messenger_core::canonical::canonicalize(&Value::Object(
            Object::from_members(m).unwrap(),
        )))
        .unwrap()
    };
    assert_eq!(parse_code(&bad_both), Some(ErrorCode::InvalidField));
}

#[test]
fn verification_errors_in_protocol_order() {
    let a = Authenticator::es256(7);
    let creds = [a.credential(6)];
    let rp = rp();
    let code = |parts: Parts| code_of(&webauthn_proof(&a, envelope(), parts), &creds, Some(&rp));
    assert_eq!(code(Parts::default()), None);
    // 5. trust
    let other = Authenticator::es256(8);
    assert_eq!(
        code_of(&webauthn_proof(&other, envelope(), Parts::default()), &creds, Some(&rp)),
        Some(ErrorCode::UntrustedKey)
    );
    let bound = [a.credential(6).with_user_handle(b"alice".to_vec()).unwrap()];
    let with_handle = {
        let env = envelope();
        let data = auth_data(RP_ID, 0x05, 7, &[]);
        let cdj = client_data("webauthn.get", &webauthn::challenge(&env), ORIGIN, "");
        let sig = signed(&a, &data, &cdj);
        AnyProof::WebAuthn(env.into_webauthn_proof(
            Assertion::new(a.credential_id.clone(), &data, cdj, sig, Some(b"mallory".to_vec())).unwrap(),
        ))
    };
    assert_eq!(code_of(&with_handle, &bound, Some(&rp)), Some(ErrorCode::UntrustedKey));
    assert_eq!(code_of(&with_handle, &creds, Some(&rp)), None, "an unbound credential ignores the handle");
    // 6, 7. audience and freshness
    let ctx = context(r#"{"subject":"alice"}"#);
    let other_audience = Envelope::new(ctx.clone(), "other-api".into(), NOW, NONCE).unwrap();
    assert_eq!(
        code_of(&webauthn_proof(&a, other_audience, Parts::default()), &creds, Some(&rp)),
        Some(ErrorCode::AudienceMismatch)
    );
    let old = Envelope::new(ctx, "payments-api".into(), NOW - 400_000, NONCE).unwrap();
    assert_eq!(code_of(&webauthn_proof(&a, old, Parts::default()), &creds, Some(&rp)), Some(ErrorCode::ProofExpired));
    // 9. client data
    assert_eq!(code(Parts { kind: "webauthn.create", ..Parts::default() }), Some(ErrorCode::WebauthnTypeMismatch));
    assert_eq!(code(Parts { challenge: Some("AAAA".into()), ..Parts::default() }), Some(ErrorCode::ChallengeMismatch));
    assert_eq!(
        code(Parts { origin: "https://bank.example.evil", ..Parts::default() }),
        Some(ErrorCode::OriginNotAllowed)
    );
    let cross = r#","crossOrigin":true,"topOrigin":"https://shop.example""#;
    // client_data writes crossOrigin:false first; a duplicate is invalid JSON, so build this one by hand.
    let cross_proof = {
        let env = envelope();
        let data = auth_data(RP_ID, 0x05, 7, &[]);
        let cdj = format!(
            r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}"{cross}}}"#,
            webauthn::challenge(&env)
        )
        .into_bytes();
        let sig = signed(&a, &data, &cdj);
        AnyProof::WebAuthn(
            env.into_webauthn_proof(Assertion::new(a.credential_id.clone(), &data, cdj, sig, None).unwrap()),
        )
    };
    assert_eq!(code_of(&cross_proof, &creds, Some(&rp)), Some(ErrorCode::CrossOriginNotAllowed));
    let mut permissive = rp.clone();
    permissive.allow_cross_origin = true;
    assert_eq!(
        code_of(&cross_proof, &creds, Some(&permissive)),
        Some(ErrorCode::OriginNotAllowed),
        "topOrigin not allowed"
    );
    permissive.origins.push("https://shop.example".into());
    assert_eq!(code_of(&cross_proof, &creds, Some(&permissive)), None);
    assert_eq!(
        code(Parts { client_extra: r#","tokenBinding":{"status":"present","id":"x"}"#, ..Parts::default() }),
        Some(ErrorCode::TokenBindingUnsupported)
    );
    assert_eq!(code(Parts { client_extra: r#","tokenBinding":{"status":"supported"}"#, ..Parts::default() }), None);
    // 10. authenticator data
    assert_eq!(code(Parts { rp_id: "evil.example", ..Parts::default() }), Some(ErrorCode::RpIdMismatch));
    assert_eq!(code(Parts { flags: 0x04, ..Parts::default() }), Some(ErrorCode::UserNotPresent));
    assert_eq!(code(Parts { flags: 0x01, ..Parts::default() }), Some(ErrorCode::UserNotVerified));
    let mut lenient = rp.clone();
    lenient.require_user_verification = false;
    assert_eq!(
        code_of(&webauthn_proof(&a, envelope(), Parts { flags: 0x01, ..Parts::default() }), &creds, Some(&lenient)),
        None
    );
    // 11. signature: a context altered in transit changes the challenge the verifier derives.
    let proof = webauthn_proof(&a, envelope(), Parts::default());
    let Value::Object(mut object) = proof.to_value() else { panic!() };
    let tampered_ctx =
        context(r#"{"action":"wire_transfer","amount":"90000.00","currency":"EUR","subject":"alice","to":"ACME"}"#);
    let mut members: Vec<(String, Value)> =
        object.clone().into_members().into_iter().filter(|(n, _)| n != "context").collect();
    members.push(("context".into(), Value::Object(tampered_ctx)));
    object = Object::from_members(members).unwrap();
    let tampered = AnyProof::from_value(Value::Object(object)).unwrap();
    assert_eq!(code_of(&tampered, &creds, Some(&rp)), Some(ErrorCode::ChallengeMismatch));
    let forged = {
        let env = envelope();
        let data = auth_data(RP_ID, 0x05, 7, &[]);
        let cdj = client_data("webauthn.get", &webauthn::challenge(&env), ORIGIN, "");
        let sig = signed(&other, &data, &cdj);
        AnyProof::WebAuthn(
            env.into_webauthn_proof(Assertion::new(a.credential_id.clone(), &data, cdj, sig, None).unwrap()),
        )
    };
    assert_eq!(code_of(&forged, &creds, Some(&rp)), Some(ErrorCode::BadSignature));
    // 12. counter: after the signature, so a forged low counter is bad_signature, not an alarm.
    assert_eq!(code(Parts { count: 6, ..Parts::default() }), Some(ErrorCode::CounterNotIncreasing));
    assert_eq!(code(Parts { count: 0, ..Parts::default() }), Some(ErrorCode::CounterNotIncreasing));
    let forged_low = {
        let env = envelope();
        let data = auth_data(RP_ID, 0x05, 1, &[]);
        let cdj = client_data("webauthn.get", &webauthn::challenge(&env), ORIGIN, "");
        let sig = signed(&other, &data, &cdj);
        AnyProof::WebAuthn(
            env.into_webauthn_proof(Assertion::new(a.credential_id.clone(), &data, cdj, sig, None).unwrap()),
        )
    };
    assert_eq!(code_of(&forged_low, &creds, Some(&rp)), Some(ErrorCode::BadSignature));
}

#[test]
fn mixed_batches_equal_single_verification() {
    let es = Authenticator::es256(11);
    let ed = Authenticator::eddsa(12);
    let ed_key = SigningKey::from_seed(&[13; 32]);
    let other_key = SigningKey::from_seed(&[14; 32]);
    let creds = [es.credential(3), ed.credential(3)];
    let keys = [ed_key.public_key()];
    let rp = rp();
    let mut proofs: Vec<AnyProof> = Vec::new();
    for i in 0..40u32 {
        let proof = match i % 8 {
            0 => webauthn_proof(&es, envelope(), Parts { count: 4 + i, ..Parts::default() }),
            1 => webauthn_proof(&ed, envelope(), Parts { count: 4 + i, ..Parts::default() }),
            2 => AnyProof::Ed25519(envelope().sign(&ed_key)),
            3 => AnyProof::Ed25519(envelope().sign(&other_key)),
            4 => webauthn_proof(&es, envelope(), Parts { count: 2, ..Parts::default() }),
            5 => webauthn_proof(&ed, envelope(), Parts { flags: 0x01, count: 9, ..Parts::default() }),
            6 => {
                let env = envelope();
                let sig = ed_key.sign(b"not the digest");
                let mut bad = [0u8; 64];
                bad.copy_from_slice(&sig);
                AnyProof::Ed25519(env.into_proof(*ed_key.public_key().as_bytes(), bad))
            }
            _ => webauthn_proof(&es, envelope(), Parts { origin: "https://evil.example", ..Parts::default() }),
        };
        proofs.push(proof);
    }
    let policy = Policy::new("payments-api", NOW);
    let trusted = Trusted { keys: &keys, credentials: &creds };
    let items: Vec<Item<'_>> = proofs.iter().map(|proof| Item { proof, trusted }).collect();
    let batch = verify_batch_with(&items, &policy, Some(&rp));
    let mut valid = 0;
    for (proof, verdict) in proofs.iter().zip(&batch) {
        let single = verify_with(proof, trusted, &policy, Some(&rp));
        assert_eq!(verdict.as_ref().map_err(|e| e.code()), single.as_ref().map_err(|e| e.code()));
        valid += usize::from(single.is_ok());
    }
    assert_eq!(valid, 15, "{batch:?}");
    // Without a relying party the WebAuthn items are unsupported_algorithm, the Ed25519 ones unchanged.
    let batch = verify_batch_with(&items, &policy, None);
    for (proof, verdict) in proofs.iter().zip(&batch) {
        assert_eq!(
            verdict.as_ref().map_err(|e| e.code()),
            verify_with(proof, trusted, &policy, None).as_ref().map_err(|e| e.code())
        );
    }
}

// ---------------------------------------------------------------- registration

fn attested(a: &Authenticator) -> Vec<u8> {
    let mut out = vec![0x11; 16]; // aaguid
    out.extend_from_slice(&(a.credential_id.len() as u16).to_be_bytes());
    out.extend_from_slice(&a.credential_id);
    out.extend_from_slice(&a.cose());
    out
}

fn attestation_object(fmt: &str, statement: Vec<u8>, data: &[u8]) -> Vec<u8> {
    map(&[(tstr("fmt"), tstr(fmt)), (tstr("attStmt"), statement), (tstr("authData"), bstr(data))])
}

const CHALLENGE: [u8; 32] = [0x5a; 32];

fn registration_parts(a: &Authenticator, flags: u8) -> (Vec<u8>, Vec<u8>) {
    let data = auth_data(RP_ID, flags, 0, &attested(a));
    let cdj = client_data("webauthn.create", &encode_base64url(&CHALLENGE), ORIGIN, "");
    (data, cdj)
}

fn register(att: &[u8], cdj: &[u8]) -> Result<webauthn::Registration, ErrorCode> {
    verify_registration(att, cdj, &CHALLENGE, &rp()).map_err(|e| e.code())
}

#[test]
fn registration_none_and_packed_self() {
    for a in [Authenticator::es256(21), Authenticator::eddsa(22)] {
        let (data, cdj) = registration_parts(&a, 0x5d);
        let none = register(&attestation_object("none", map(&[]), &data), &cdj).unwrap();
        assert_eq!(none.format().as_str(), "none");
        assert_eq!(none.credential().id(), a.credential_id.as_slice());
        assert_eq!(none.credential().public_key().as_bytes(), a.cose().as_slice());
        assert_eq!(none.aaguid(), &[0x11; 16]);
        assert!(none.flags().backup_eligible() && none.flags().backup_state() && none.flags().user_verified());
        let sig = signed(&a, &data, &cdj);
        let packed = register(
            &attestation_object("packed", map(&[(tstr("alg"), int(a.alg())), (tstr("sig"), bstr(&sig))]), &data),
            &cdj,
        )
        .unwrap();
        assert_eq!(packed.format().as_str(), "packed");
        assert_eq!(packed.credential(), none.credential());
        // The registered credential verifies a later proof.
        let proof = webauthn_proof(&a, envelope(), Parts { count: 1, ..Parts::default() });
        assert_eq!(code_of(&proof, &[packed.into_credential()], Some(&rp())), None);
    }
}

#[test]
fn registration_errors() {
    let a = Authenticator::es256(23);
    let (data, cdj) = registration_parts(&a, 0x45);
    let sig = signed(&a, &data, &cdj);
    let packed = |entries: &[(Vec<u8>, Vec<u8>)]| attestation_object("packed", map(entries), &data);
    let good_stmt = [(tstr("alg"), int(-7)), (tstr("sig"), bstr(&sig))];
    assert!(register(&packed(&good_stmt), &cdj).is_ok());
    let with_x5c = [(tstr("alg"), int(-7)), (tstr("sig"), bstr(&sig)), (tstr("x5c"), vec![0x81, 0x41, 0x00])];
    assert_eq!(register(&packed(&with_x5c), &cdj).err(), Some(ErrorCode::AttestationUnsupported));
    assert_eq!(
        register(&packed(&[(tstr("alg"), int(-8)), (tstr("sig"), bstr(&sig))]), &cdj).err(),
        Some(ErrorCode::InvalidAttestation)
    );
    assert_eq!(register(&packed(&[(tstr("alg"), int(-7))]), &cdj).err(), Some(ErrorCode::InvalidAttestation));
    let other_sig = signed(&Authenticator::es256(24), &data, &cdj);
    assert_eq!(
        register(&packed(&[(tstr("alg"), int(-7)), (tstr("sig"), bstr(&other_sig))]), &cdj).err(),
        Some(ErrorCode::BadSignature)
    );
    assert_eq!(
        register(&attestation_object("none", map(&good_stmt), &data), &cdj).err(),
        Some(ErrorCode::InvalidAttestation)
    );
    assert_eq!(
        register(&attestation_object("tpm", map(&[]), &data), &cdj).err(),
        Some(ErrorCode::AttestationUnsupported)
    );
    let mut trailing = attestation_object("none", map(&[]), &data);
    trailing.push(0);
    assert_eq!(register(&trailing, &cdj).err(), Some(ErrorCode::InvalidAttestation));
    assert_eq!(register(&[0xa0], &cdj).err(), Some(ErrorCode::InvalidAttestation));
    let no_at = auth_data(RP_ID, 0x05, 0, &[]);
    assert_eq!(
        register(&attestation_object("none", map(&[]), &no_at), &cdj).err(),
        Some(ErrorCode::InvalidAuthenticatorData)
    );
    let get = client_data("webauthn.get", &encode_base64url(&CHALLENGE), ORIGIN, "");
    assert_eq!(
        register(&attestation_object("none", map(&[]), &data), &get).err(),
        Some(ErrorCode::WebauthnTypeMismatch)
    );
    let other_challenge = client_data("webauthn.create", &encode_base64url(&[1; 32]), ORIGIN, "");
    assert_eq!(
        register(&attestation_object("none", map(&[]), &data), &other_challenge).err(),
        Some(ErrorCode::ChallengeMismatch)
    );
    let (wrong_rp, _) = {
        let d = auth_data("evil.example", 0x45, 0, &attested(&a));
        (d, ())
    };
    assert_eq!(register(&attestation_object("none", map(&[]), &wrong_rp), &cdj).err(), Some(ErrorCode::RpIdMismatch));
    let (no_uv, _) = registration_parts(&a, 0x41);
    assert_eq!(register(&attestation_object("none", map(&[]), &no_uv), &cdj).err(), Some(ErrorCode::UserNotVerified));
    assert_eq!(
        verify_registration(&attestation_object("none", map(&[]), &data), &cdj, &[1; 15], &rp())
            .err()
            .map(|e| e.code()),
        Some(ErrorCode::InvalidField)
    );
    // An unsupported credential algorithm (ES384, -35) is reported as such.
    let mut es384 = data.clone();
    let alg_at = es384.len() - a.cose().len() + 4; // a5 01 02 03 [26]
    assert_eq!(es384[alg_at], 0x26);
    es384[alg_at] = 0x38;
    es384.insert(alg_at + 1, 0x22);
    assert_eq!(
        register(&attestation_object("none", map(&[]), &es384), &cdj).err(),
        Some(ErrorCode::UnsupportedCoseAlgorithm)
    );
}

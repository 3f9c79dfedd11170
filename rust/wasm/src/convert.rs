//! Plain-Rust halves of the exports: bytes and numbers from JS in, core
//! results out. Everything the core decides stays in the core; this file only
//! converts (JSON text to a context, JS numbers to integers, key lists to
//! keys, verdicts to JSON). No JS types here, so it is unit-tested natively.

use proof_messenger_core::canonical::canonicalize;
use proof_messenger_core::digest;
use proof_messenger_core::ed25519::{self, PublicKey};
use proof_messenger_core::encoding::encode_base64url;
use proof_messenger_core::json::{self, Limits, Number, Object, Value};
use proof_messenger_core::proof::{Envelope, Proof, MAX_TIMESTAMP_MS};
use proof_messenger_core::verify::{self, Policy};
use proof_messenger_core::{Error, ErrorCode, Result};

/// Largest integer a JS number holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Limits for a JSON value given on its own (canonicalize, digest,
/// fingerprint): like the Python package, only nesting is bounded.
pub fn value_limits(max_depth: usize) -> Limits {
    Limits { max_bytes: usize::MAX, max_depth }
}

/// Parses a context: strict JSON text whose top level is an object.
///
/// The JS glue has already rejected what JSON text cannot carry (NaN,
/// `undefined`, lone surrogates in JS strings, ...); the strict parser is the
/// single judge of everything else.
pub fn parse_context(json_text: &[u8], limits: &Limits) -> Result<Object> {
    match json::parse(json_text, limits)? {
        Value::Object(object) => Ok(object),
        _ => Err(Error::new(ErrorCode::InvalidType, "context must be an object")),
    }
}

/// RFC 8785 canonical form of any JSON value.
pub fn canonical(json_text: &[u8], limits: &Limits) -> Result<Vec<u8>> {
    Ok(canonicalize(&json::parse(json_text, limits)?))
}

/// SHA-256 of the canonical form of any JSON value.
pub fn context_digest(json_text: &[u8], limits: &Limits) -> Result<[u8; 32]> {
    Ok(digest::context_digest(&canonical(json_text, limits)?))
}

/// A JS number that must be an integer in `0..=2^53-1` (a time or a duration).
pub fn whole_ms(value: f64, name: &str) -> Result<u64> {
    if (0.0..=MAX_SAFE_INTEGER).contains(&value) && value.fract() == 0.0 {
        // Exact: a non-negative integral double below 2^53.
        Ok(value as u64)
    } else {
        Err(Error::new(
            ErrorCode::InvalidType,
            format!("{name} must be an integer number of milliseconds in 0..=2^53-1"),
        ))
    }
}

/// A JS number used as a limit (bytes or depth).
pub fn limit(value: f64, name: &str) -> Result<usize> {
    let n = whole_ms(value, name)?;
    usize::try_from(n).map_err(|_| Error::new(ErrorCode::InvalidType, format!("{name} is too large")))
}

/// Limits of a proof being made: `max_bytes` bounds the proof's JSON and
/// `max_depth` the proof's nesting, so the context (one level down) gets
/// `max_depth - 1`, exactly as in the Python package's `sign`.
#[derive(Clone, Copy, Debug)]
pub struct ProofLimits {
    /// Largest proof JSON, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of the proof (the proof object is depth 1).
    pub max_depth: usize,
}

/// The signing envelope of PROTOCOL.md v1 for a context and its binding
/// members; rejects it if the finished proof would exceed the limits.
pub fn envelope(
    context_json: &[u8],
    audience: &str,
    timestamp_ms: f64,
    nonce: &str,
    limits: ProofLimits,
) -> Result<Envelope> {
    let context_limits = Limits { max_bytes: usize::MAX, max_depth: limits.max_depth.saturating_sub(1) };
    let context = parse_context(context_json, &context_limits)?;
    let timestamp_ms = proof_timestamp(timestamp_ms)?;
    let envelope = Envelope::new(context, audience.to_owned(), timestamp_ms, nonce)?;
    // The key and signature have fixed encoded lengths: zeros give the exact size.
    check_proof_size(envelope.clone().into_proof([0; 32], [0; 64]).to_json().len(), limits.max_bytes)?;
    Ok(envelope)
}

fn check_proof_size(size: usize, max_bytes: usize) -> Result<()> {
    if size > max_bytes {
        return Err(Error::new(
            ErrorCode::InputTooLarge,
            format!("the proof would be {size} bytes, over max_bytes={max_bytes}"),
        ));
    }
    Ok(())
}

/// A proof's timestamp: an out-of-range value is the same `invalid_field` the
/// core reports for a proof member.
fn proof_timestamp(value: f64) -> Result<u64> {
    whole_ms(value, "timestamp").map_err(|_| {
        Error::new(
            ErrorCode::InvalidField,
            format!("timestamp: must be an integer in 0..={MAX_TIMESTAMP_MS} (Unix ms)"),
        )
    })
}

/// What the JS side needs of an envelope, in one buffer:
/// `signed_digest (32) || context_digest (32) || signing payload`.
pub fn draft_bytes(envelope: &Envelope) -> Vec<u8> {
    let payload = envelope.signing_payload();
    let mut out = Vec::with_capacity(64 + payload.len());
    out.extend_from_slice(envelope.signed_digest());
    out.extend_from_slice(envelope.context_digest());
    out.extend_from_slice(&payload);
    out
}

/// Assembles a proof from an envelope, the signer's public key (raw or SPKI)
/// and a signature made outside WASM (WebCrypto), and returns its canonical
/// JSON.
///
/// The signature is verified against the carried key before the proof is
/// returned: a proof that cannot verify (wrong key pair, mutated input, a
/// faulty signer) is never useful, and finding out here is cheaper than at
/// the relay.
pub fn assemble(envelope: Envelope, public_key: &[u8], signature: &[u8]) -> Result<Vec<u8>> {
    let key = PublicKey::from_raw_or_spki(public_key)?;
    let signature = signature_bytes(signature)?;
    ed25519::verify(&key, envelope.signed_digest(), &signature)?;
    Ok(envelope.into_proof(*key.as_bytes(), signature).to_json())
}

fn signature_bytes(signature: &[u8]) -> Result<[u8; 64]> {
    signature.try_into().map_err(|_| {
        Error::new(ErrorCode::InvalidField, format!("signature: must be 64 bytes, got {}", signature.len()))
    })
}

/// Splits the key list the JS glue sends (`len (1 byte) || key` repeated;
/// each key raw or SPKI) and validates every key.
pub fn trusted_keys(list: &[u8]) -> Result<Vec<PublicKey>> {
    let mut keys = Vec::new();
    let mut rest = list;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        let (key, tail) =
            tail.split_at_checked(len).ok_or_else(|| Error::new(ErrorCode::InvalidPublicKey, "truncated key list"))?;
        keys.push(PublicKey::from_raw_or_spki(key)?);
        rest = tail;
    }
    Ok(keys)
}

/// The subject a proof speaks for, for per-subject trust: `Ok(None)` when the
/// context names none (the caller reports `missing_subject`); parse errors
/// (steps 1-4 of the verification) come first.
pub fn proof_subject(proof_json: &[u8], limits: &Limits) -> Result<Option<String>> {
    Ok(Proof::parse(proof_json, limits)?.envelope().subject().map(str::to_owned))
}

/// [`proof_subject`] as JSON text: `{"subject": ...}` or `{"code": ..., "detail": ...}`.
pub fn proof_subject_json(proof_json: &[u8], limits: &Limits) -> Vec<u8> {
    let mut out = Object::with_capacity(2);
    let members = match proof_subject(proof_json, limits) {
        Ok(subject) => vec![("subject", subject.map_or(Value::Null, Value::String))],
        Err(e) => vec![
            ("code", Value::String(e.code().as_str().to_owned())),
            ("detail", Value::String(e.detail().to_owned())),
        ],
    };
    for (name, value) in members {
        // Distinct constant names: insert cannot report a duplicate.
        let _ = out.insert(name.to_owned(), value);
    }
    canonicalize(&Value::Object(out))
}

/// Verification options, already converted from JS.
pub struct VerifyOptions {
    /// The keys trusted for this proof.
    pub trusted: Vec<PublicKey>,
    /// The policy (audience, clock, max age, skew).
    pub policy: Policy,
    /// Parsing limits for the proof JSON.
    pub limits: Limits,
}

/// Parses and verifies a proof; the verdict (valid or not, with the stable
/// code) as JSON text. Problems of the proof are verdicts, not errors.
pub fn verify_proof(proof_json: &[u8], options: &VerifyOptions) -> Vec<u8> {
    let verdict = Proof::parse(proof_json, &options.limits)
        .and_then(|proof| verify::verify(&proof, &options.trusted, &options.policy).map(|()| proof));
    let mut out = Object::with_capacity(12);
    let mut put = |name: &str, value: Value| {
        // Names below are distinct constants: insert cannot report a duplicate.
        let _ = out.insert(name.to_owned(), value);
    };
    match verdict {
        Ok(proof) => {
            let envelope = proof.envelope();
            put("valid", Value::Bool(true));
            put("code", Value::Null);
            put("detail", Value::Null);
            put("keyId", Value::String(proof.key_id()));
            put("subject", envelope.subject().map_or(Value::Null, |s| Value::String(s.to_owned())));
            put("audience", Value::String(envelope.audience().to_owned()));
            put("nonce", Value::String(envelope.nonce().to_owned()));
            put("timestamp", integer(envelope.timestamp_ms()));
            put("expiresAt", integer(options.policy.expires_at_ms(&proof)));
            put("contextDigest", Value::String(encode_base64url(envelope.context_digest())));
            put("signedDigest", Value::String(encode_base64url(envelope.signed_digest())));
            put("context", Value::Object(envelope.context().clone()));
        }
        Err(error) => {
            put("valid", Value::Bool(false));
            put("code", Value::String(error.code().as_str().to_owned()));
            put("detail", Value::String(error.detail().to_owned()));
        }
    }
    canonicalize(&Value::Object(out))
}

/// A non-negative integer below 2^53 (the envelope bounds timestamps; a
/// saturated expiry is capped to the largest exact integer, so the fallback
/// is never taken).
fn integer(n: u64) -> Value {
    Number::from_u64(n.min(MAX_TIMESTAMP_MS)).map_or(Value::Null, Value::Number)
}

/// Strict Ed25519 verification of any message (receipts, checkpoints).
///
/// `Ok(false)` for a signature that does not verify; errors for a key or a
/// signature that is malformed.
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<bool> {
    let key = PublicKey::from_raw_or_spki(public_key)?;
    let signature = signature_bytes(signature)?;
    match ed25519::verify(&key, message, &signature) {
        Ok(()) => Ok(true),
        Err(e) if e.code() == ErrorCode::BadSignature => Ok(false),
        Err(e) => Err(e),
    }
}

/// The key id (RFC 7638 thumbprint) of a valid public key, raw or SPKI.
pub fn key_id(public_key: &[u8]) -> Result<String> {
    Ok(PublicKey::from_raw_or_spki(public_key)?.key_id())
}

/// Every stable error code, comma-separated, in the core's order.
pub fn error_codes() -> String {
    ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use proof_messenger_core::ed25519::SigningKey;

    const NONCE: &str = "AAECAwQFBgcICQoLDA0ODw";

    fn code<T>(r: Result<T>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(e) => e.code().as_str(),
        }
    }

    const LIMITS: ProofLimits = ProofLimits { max_bytes: 65_536, max_depth: 32 };

    #[test]
    fn canonical_values() {
        let l = value_limits(32);
        assert_eq!(canonical(br#"{"b":1,"a":[1e21,-0]}"#, &l).unwrap(), br#"{"a":[1e+21,0],"b":1}"#);
        assert_eq!(canonical(b"[1]", &l).unwrap(), b"[1]");
        assert_eq!(code(canonical(b"[1]", &value_limits(0))), "nesting_too_deep");
        assert_eq!(code(canonical(br#"{"a":"\ud800"}"#, &l)), "lone_surrogate");
        assert_eq!(code(canonical(br#"{"a":1,"a":2}"#, &l)), "duplicate_key");
    }

    #[test]
    fn contexts_of_proofs() {
        assert_eq!(code(envelope(b"[1]", "aud", 0.0, NONCE, LIMITS)), "invalid_type");
        // The proof object takes one level of the depth budget.
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert_eq!(code(envelope(deep(30).as_bytes(), "aud", 0.0, NONCE, LIMITS)), "ok");
        assert_eq!(code(envelope(deep(31).as_bytes(), "aud", 0.0, NONCE, LIMITS)), "nesting_too_deep");
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(65_520));
        assert_eq!(code(envelope(big.as_bytes(), "aud", 0.0, NONCE, LIMITS)), "input_too_large");
    }

    #[test]
    fn numbers_from_js() {
        assert_eq!(whole_ms(0.0, "t").unwrap(), 0);
        assert_eq!(whole_ms(MAX_SAFE_INTEGER, "t").unwrap(), (1 << 53) - 1);
        for bad in [-1.0, 1.5, f64::NAN, f64::INFINITY, MAX_SAFE_INTEGER + 1.0] {
            assert_eq!(code(whole_ms(bad, "t")), "invalid_type", "{bad}");
        }
        assert_eq!(code(envelope(b"{}", "aud", -1.0, NONCE, LIMITS)), "invalid_field");
    }

    #[test]
    fn assemble_then_verify() {
        let key = SigningKey::from_seed(&[7u8; 32]);
        let context = br#"{"action":"approve","subject":"alice"}"#;
        let env = envelope(context, "payments-api", 1_700_000_000_000.0, NONCE, LIMITS).unwrap();
        let draft = draft_bytes(&env);
        assert_eq!(&draft[..32], env.signed_digest());
        assert_eq!(draft[64..], env.signing_payload()[..]);
        let signature = key.sign(env.signed_digest());
        let public = *key.public_key().as_bytes();

        let mut wrong = signature;
        wrong[0] ^= 1;
        assert_eq!(code(assemble(env.clone(), &public, &wrong)), "bad_signature");
        assert_eq!(code(assemble(env.clone(), &public[..31], &signature)), "invalid_public_key");
        let proof = assemble(env, &public, &signature).unwrap();

        let mut list = vec![32u8];
        list.extend_from_slice(&public);
        let options = VerifyOptions {
            trusted: trusted_keys(&list).unwrap(),
            policy: Policy::new("payments-api", 1_700_000_001_000),
            limits: Limits::DEFAULT,
        };
        let verdict = String::from_utf8(verify_proof(&proof, &options)).unwrap();
        assert!(verdict.contains(r#""valid":true"#), "{verdict}");
        assert!(verdict.contains(r#""subject":"alice""#), "{verdict}");

        let tampered = String::from_utf8(proof).unwrap().replace("approve", "approvE");
        let verdict = String::from_utf8(verify_proof(tampered.as_bytes(), &options)).unwrap();
        assert!(verdict.contains(r#""code":"bad_signature""#), "{verdict}");
        let verdict = String::from_utf8(verify_proof(b"{", &options)).unwrap();
        assert!(verdict.contains(r#""code":"invalid_json""#), "{verdict}");

        assert!(verify_signature(&public, b"m", &key.sign(b"m")).unwrap());
        assert!(!verify_signature(&public, b"n", &key.sign(b"m")).unwrap());
        assert_eq!(key_id(&public).unwrap(), key.public_key().key_id());
    }

    #[test]
    fn key_lists() {
        assert!(trusted_keys(&[]).unwrap().is_empty());
        assert_eq!(code(trusted_keys(&[32, 1, 2])), "invalid_public_key");
        assert_eq!(code(trusted_keys(&[3, 1, 2, 3])), "invalid_public_key");
    }

    #[test]
    fn codes_are_listed() {
        let codes = error_codes();
        assert!(codes.starts_with("input_too_large,"));
        assert_eq!(codes.split(',').count(), ErrorCode::ALL.len());
    }
}

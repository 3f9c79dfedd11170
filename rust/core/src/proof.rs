//! The v1 proof: its wire format (JSON) and the envelope the key signs.
//!
//! Parsing applies the checks of docs/PROTOCOL.md "Verification" steps 1-4
//! in order (limits, JSON, structure, encodings); nothing here does curve
//! arithmetic, so malformed input is rejected cheaply before any of it.

use crate::canonical::canonicalize;
use crate::digest;
use crate::ed25519::{self, SigningKey};
use crate::encoding::{decode_base64, decode_base64url, encode_base64};
use crate::errors::{Error, ErrorCode, Result};
use crate::json::{self, Limits, Number, Object, Value};

/// The protocol version this crate implements.
pub const VERSION: i64 = 1;
/// Shortest nonce, in bytes (128 bits).
pub const MIN_NONCE_BYTES: usize = 16;
/// Longest nonce, in bytes.
pub const MAX_NONCE_BYTES: usize = 64;
/// Longest audience, in UTF-8 bytes.
pub const MAX_AUDIENCE_BYTES: usize = 255;
/// Longest subject (`context.subject`), in UTF-8 bytes.
pub const MAX_SUBJECT_BYTES: usize = 255;
/// Largest timestamp: 2^53 - 1 ms, the largest integer every JSON implementation holds exactly.
pub const MAX_TIMESTAMP_MS: u64 = (1 << 53) - 1;

/// The members of a v1 proof, in the order their absence is reported.
pub const MEMBERS: [&str; 8] =
    ["version", "algorithm", "context", "audience", "timestamp", "nonce", "publicKey", "signature"];

/// Signature algorithms of v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 (RFC 8032) under the strict cofactored rule of [`crate::ed25519`].
    Ed25519,
}

impl Algorithm {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    /// Looks an algorithm up by its wire name (case-sensitive).
    pub fn from_name(name: &str) -> Result<Algorithm> {
        match name {
            "Ed25519" => Ok(Algorithm::Ed25519),
            _ => Err(Error::new(ErrorCode::UnsupportedAlgorithm, "algorithm must be \"Ed25519\"")),
        }
    }
}

/// What a key signs: the context and the envelope members that bind it to one
/// audience, one moment and one use.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    algorithm: Algorithm,
    context: Object,
    canonical_context: Vec<u8>,
    context_digest: [u8; 32],
    subject: Option<String>,
    audience: String,
    timestamp_ms: u64,
    nonce: String,
    nonce_bytes: Vec<u8>,
    signed_digest: [u8; 32],
}

impl Envelope {
    /// Validates the members and computes the canonical form and digests.
    ///
    /// `nonce` is the wire form (unpadded base64url of 16 to 64 bytes).
    pub fn new(context: Object, audience: String, timestamp_ms: u64, nonce: &str) -> Result<Envelope> {
        let subject = subject_of(&context)?;
        check_audience(&audience)?;
        check_timestamp(timestamp_ms)?;
        let nonce_bytes = decode_nonce(nonce)?;
        Ok(Envelope::from_checked(context, subject, audience, timestamp_ms, nonce.to_owned(), nonce_bytes))
    }

    fn from_checked(
        context: Object,
        subject: Option<String>,
        audience: String,
        timestamp_ms: u64,
        nonce: String,
        nonce_bytes: Vec<u8>,
    ) -> Envelope {
        let algorithm = Algorithm::Ed25519;
        let canonical_context = canonicalize_object(&context);
        let context_digest = digest::context_digest(&canonical_context);
        let payload =
            digest::signing_payload(algorithm.as_str(), &audience, timestamp_ms, &nonce_bytes, &context_digest);
        let signed_digest = digest::signed_digest(&payload);
        Envelope {
            algorithm,
            context,
            canonical_context,
            context_digest,
            subject,
            audience,
            timestamp_ms,
            nonce,
            nonce_bytes,
            signed_digest,
        }
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    /// The context object.
    pub fn context(&self) -> &Object {
        &self.context
    }
    /// The RFC 8785 canonical form of the context.
    pub fn canonical_context(&self) -> &[u8] {
        &self.canonical_context
    }
    /// SHA-256 of the canonical context.
    pub fn context_digest(&self) -> &[u8; 32] {
        &self.context_digest
    }
    /// `context.subject`, the user the proof speaks for, if named.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// The intended verifier.
    pub fn audience(&self) -> &str {
        &self.audience
    }
    /// Signing time, Unix milliseconds.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }
    /// The nonce as on the wire (the replay-protection key).
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
    /// The exact v1 signing payload.
    pub fn signing_payload(&self) -> Vec<u8> {
        digest::signing_payload(
            self.algorithm.as_str(),
            &self.audience,
            self.timestamp_ms,
            &self.nonce_bytes,
            &self.context_digest,
        )
    }
    /// SHA-256 of the signing payload: what the key signs.
    pub fn signed_digest(&self) -> &[u8; 32] {
        &self.signed_digest
    }

    /// Signs the envelope, producing a proof.
    pub fn sign(self, key: &SigningKey) -> Proof {
        let signature = key.sign(&self.signed_digest);
        self.into_proof(*key.public_key().as_bytes(), signature)
    }

    /// Assembles a proof from a signature made elsewhere (WebCrypto, an HSM).
    ///
    /// Nothing is verified here: verification needs a trusted key.
    pub fn into_proof(self, public_key: [u8; 32], signature: [u8; 64]) -> Proof {
        Proof { envelope: self, public_key, signature }
    }
}

/// A parsed v1 proof: an envelope, the signer's public key and the signature.
///
/// A parsed proof is well-formed, not verified: see [`crate::verify`].
#[derive(Clone, Debug, PartialEq)]
pub struct Proof {
    envelope: Envelope,
    public_key: [u8; 32],
    signature: [u8; 64],
}

impl Proof {
    /// Parses proof JSON from bytes under `limits`.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Proof> {
        Proof::from_value(json::parse(bytes, limits)?)
    }

    /// Builds a proof from an already parsed JSON value.
    pub fn from_value(value: Value) -> Result<Proof> {
        let Value::Object(object) = value else {
            return Err(Error::new(ErrorCode::InvalidType, "a proof must be a JSON object"));
        };
        let mut slots: [Option<Value>; 8] = Default::default();
        for (name, member) in object.into_members() {
            let index = MEMBERS
                .iter()
                .position(|known| *known == name)
                .ok_or_else(|| Error::new(ErrorCode::UnknownField, format!("unknown member {:?}", truncate(&name))))?;
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(member);
            }
        }
        let mut taken = slots.into_iter().zip(MEMBERS);
        let mut next = || -> Result<(Value, &'static str)> {
            match taken.next() {
                Some((Some(value), name)) => Ok((value, name)),
                Some((None, name)) => Err(Error::new(ErrorCode::MissingField, format!("missing member {name:?}"))),
                None => Err(Error::new(ErrorCode::MissingField, "missing member")),
            }
        };
        let (version, _) = next()?;
        let (algorithm, _) = next()?;
        let (context, _) = next()?;
        let (audience, _) = next()?;
        let (timestamp, _) = next()?;
        let (nonce, _) = next()?;
        let (public_key, _) = next()?;
        let (signature, _) = next()?;

        // Each member is checked completely, in MEMBERS order (docs/PROTOCOL.md).
        match version {
            Value::Number(n) if n.as_exact_i64() == Some(VERSION) => {}
            Value::Number(_) => return Err(Error::new(ErrorCode::UnsupportedVersion, "version must be 1")),
            _ => return Err(Error::new(ErrorCode::InvalidField, "version: must be a number")),
        }
        let Value::String(algorithm) = algorithm else {
            return Err(Error::new(ErrorCode::InvalidField, "algorithm: must be a string"));
        };
        Algorithm::from_name(&algorithm)?;
        let Value::Object(context) = context else {
            return Err(Error::new(ErrorCode::InvalidField, "context: must be a JSON object"));
        };
        let subject = subject_of(&context)?;
        let Value::String(audience) = audience else {
            return Err(Error::new(ErrorCode::InvalidField, "audience: must be a string"));
        };
        check_audience(&audience)?;
        let timestamp_ms = match timestamp {
            Value::Number(n) => n.as_exact_i64().and_then(|t| u64::try_from(t).ok()),
            _ => None,
        }
        .ok_or_else(timestamp_error)?;
        check_timestamp(timestamp_ms)?;
        let Value::String(nonce) = nonce else {
            return Err(Error::new(ErrorCode::InvalidField, "nonce: must be a string"));
        };
        let nonce_bytes = decode_nonce(&nonce)?;
        let Value::String(public_key) = public_key else {
            return Err(Error::new(ErrorCode::InvalidField, "publicKey: must be a string"));
        };
        let public_key = ed25519::raw_key_bytes(&decode_base64(&public_key, "publicKey")?)?;
        let Value::String(signature) = signature else {
            return Err(Error::new(ErrorCode::InvalidField, "signature: must be a string"));
        };
        let signature: [u8; 64] = decode_base64(&signature, "signature")?
            .try_into()
            .map_err(|_| Error::new(ErrorCode::InvalidField, "signature: must decode to 64 bytes"))?;
        let envelope = Envelope::from_checked(context, subject, audience, timestamp_ms, nonce, nonce_bytes);
        Ok(Proof { envelope, public_key, signature })
    }

    /// The signed envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
    /// The raw public key the proof carries (not trusted by itself).
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }
    /// The key id (RFC 7638 thumbprint) of the carried key.
    pub fn key_id(&self) -> String {
        ed25519::key_id(&self.public_key)
    }
    /// The 64-byte signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The proof as a JSON value (publicKey as raw 32 bytes, base64).
    pub fn to_value(&self) -> Value {
        let e = &self.envelope;
        let mut object = Object::with_capacity(8);
        let members = [
            ("version", exact_integer(VERSION as u64)),
            ("algorithm", Value::String(e.algorithm.as_str().to_owned())),
            ("context", Value::Object(e.context.clone())),
            ("audience", Value::String(e.audience.clone())),
            ("timestamp", exact_integer(e.timestamp_ms)),
            ("nonce", Value::String(e.nonce.clone())),
            ("publicKey", Value::String(encode_base64(&self.public_key))),
            ("signature", Value::String(encode_base64(&self.signature))),
        ];
        for (name, value) in members {
            // Names are distinct constants: insert cannot report a duplicate.
            let _ = object.insert(name.to_owned(), value);
        }
        Value::Object(object)
    }

    /// The proof as RFC 8785 canonical JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        canonicalize(&self.to_value())
    }
}

/// A JSON number for an integer the envelope already bounded to 0..=2^53-1,
/// which every double holds exactly (so the fallback is never taken).
fn exact_integer(n: u64) -> Value {
    Number::from_u64(n).map(Value::Number).unwrap_or(Value::Null)
}

fn canonicalize_object(context: &Object) -> Vec<u8> {
    canonicalize(&Value::Object(context.clone()))
}

fn timestamp_error() -> Error {
    Error::new(ErrorCode::InvalidField, "timestamp: must be an integer in 0..=2^53-1 (Unix ms)")
}

fn check_timestamp(timestamp_ms: u64) -> Result<()> {
    if timestamp_ms > MAX_TIMESTAMP_MS {
        return Err(timestamp_error());
    }
    Ok(())
}

fn decode_nonce(nonce: &str) -> Result<Vec<u8>> {
    let bytes = decode_base64url(nonce, "nonce")?;
    if !(MIN_NONCE_BYTES..=MAX_NONCE_BYTES).contains(&bytes.len()) {
        return Err(Error::new(ErrorCode::InvalidField, "nonce: must decode to 16..=64 bytes"));
    }
    Ok(bytes)
}

fn subject_of(context: &Object) -> Result<Option<String>> {
    match context.get("subject") {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUBJECT_BYTES => Ok(Some(s.clone())),
        Some(_) => Err(Error::new(ErrorCode::InvalidField, "context.subject: must be a string of 1..=255 bytes")),
    }
}

fn check_audience(audience: &str) -> Result<()> {
    if audience.is_empty() || audience.len() > MAX_AUDIENCE_BYTES {
        return Err(Error::new(ErrorCode::InvalidField, "audience: must be a string of 1..=255 bytes"));
    }
    Ok(())
}

fn truncate(name: &str) -> String {
    name.chars().take(40).collect()
}

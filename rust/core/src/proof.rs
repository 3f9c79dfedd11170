//! The v1 proof: its wire format (JSON) and the envelope the key signs.
//!
//! Parsing applies the checks of docs/PROTOCOL.md "Verification" steps 1-4
//! in order (limits, JSON, structure, encodings); nothing here does curve
//! arithmetic, so malformed input is rejected cheaply before any of it.
//!
//! Two kinds of proof share the envelope: [`Proof`] (Ed25519, section 2) and
//! [`WebAuthnProof`] (section 10), whose member table is chosen by
//! `"algorithm": "WebAuthn"`. [`AnyProof`] parses either.

use crate::canonical::{self, canonicalize};
use crate::digest;
use crate::ed25519::{self, SigningKey};
use crate::encoding::{decode_base64, decode_base64url, encode_base64};
use crate::errors::{Error, ErrorCode, Result};
use crate::json::{self, Limits, Number, Object, Value};
use crate::webauthn::{Assertion, WebAuthnProof};

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

/// The members of a WebAuthn proof, in the order their absence is reported;
/// the last, `userHandle`, is optional.
pub const WEBAUTHN_MEMBERS: [&str; 11] = [
    "version",
    "algorithm",
    "context",
    "audience",
    "timestamp",
    "nonce",
    "credentialId",
    "authenticatorData",
    "clientDataJSON",
    "signature",
    "userHandle",
];

/// Signature algorithms of v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 (RFC 8032) under the strict cofactored rule of [`crate::ed25519`].
    Ed25519,
    /// A WebAuthn assertion (docs/PROTOCOL.md section 10); the signature
    /// algorithm is the registered credential's (ES256, EdDSA or RS256).
    WebAuthn,
}

impl Algorithm {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::WebAuthn => "WebAuthn",
        }
    }

    /// Looks an algorithm up by its wire name (case-sensitive).
    pub fn from_name(name: &str) -> Result<Algorithm> {
        match name {
            "Ed25519" => Ok(Algorithm::Ed25519),
            "WebAuthn" => Ok(Algorithm::WebAuthn),
            _ => Err(Error::new(ErrorCode::UnsupportedAlgorithm, "algorithm must be \"Ed25519\" or \"WebAuthn\"")),
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
        Ok(Envelope::from_checked(
            Algorithm::Ed25519,
            context,
            subject,
            audience,
            timestamp_ms,
            nonce.to_owned(),
            nonce_bytes,
        ))
    }

    fn from_checked(
        algorithm: Algorithm,
        context: Object,
        subject: Option<String>,
        audience: String,
        timestamp_ms: u64,
        nonce: String,
        nonce_bytes: Vec<u8>,
    ) -> Envelope {
        let canonical_context = canonical::canonicalize_object(&context);
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

    /// The same envelope for another algorithm: the algorithm is signed, so
    /// the signed digest changes with it.
    pub fn with_algorithm(mut self, algorithm: Algorithm) -> Envelope {
        if algorithm != self.algorithm {
            self.signed_digest = self.signed_digest_for(algorithm);
            self.algorithm = algorithm;
        }
        self
    }

    /// The signed digest this envelope would have under `algorithm`.
    pub fn signed_digest_for(&self, algorithm: Algorithm) -> [u8; 32] {
        let payload = digest::signing_payload(
            algorithm.as_str(),
            &self.audience,
            self.timestamp_ms,
            &self.nonce_bytes,
            &self.context_digest,
        );
        digest::signed_digest(&payload)
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

    /// Signs the envelope with Ed25519, producing a proof.
    pub fn sign(self, key: &SigningKey) -> Proof {
        let envelope = self.with_algorithm(Algorithm::Ed25519);
        let signature = key.sign(&envelope.signed_digest);
        envelope.into_proof(*key.public_key().as_bytes(), signature)
    }

    /// Assembles an Ed25519 proof from a signature made elsewhere (WebCrypto, an HSM).
    ///
    /// Nothing is verified here: verification needs a trusted key.
    pub fn into_proof(self, public_key: [u8; 32], signature: [u8; 64]) -> Proof {
        Proof { envelope: self.with_algorithm(Algorithm::Ed25519), public_key, signature }
    }

    /// Assembles a WebAuthn proof from an assertion whose challenge is
    /// [`crate::webauthn::challenge`] of this envelope.
    ///
    /// Nothing is verified here: verification needs the registered credential.
    pub fn into_webauthn_proof(self, assertion: Assertion) -> WebAuthnProof {
        WebAuthnProof::new(self.with_algorithm(Algorithm::WebAuthn), assertion)
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
    ///
    /// With the `webauthn` feature, a WebAuthn proof is parsed completely (so
    /// that its structure errors are reported as for any proof) and then refused with
    /// `unsupported_algorithm`: this type holds Ed25519 proofs; [`AnyProof`]
    /// takes both.
    pub fn from_value(value: Value) -> Result<Proof> {
        let Value::Object(object) = value else {
            return Err(Error::new(ErrorCode::InvalidType, "a proof must be a JSON object"));
        };
        if is_webauthn(&object) {
            // Full structure checks link the WebAuthn parsers (CBOR, COSE, P-256,
            // RSA); builds that only handle Ed25519 proofs (the browser
            // module) leave them out and refuse the algorithm straight away.
            #[cfg(feature = "webauthn")]
            WebAuthnProof::from_object(object)?;
            return Err(Error::new(
                ErrorCode::UnsupportedAlgorithm,
                "a WebAuthn proof, and this verifier accepts Ed25519 proofs only",
            ));
        }
        Proof::from_object(object)
    }

    fn from_object(object: Object) -> Result<Proof> {
        let mut members = Members::take(object, &MEMBERS, 0)?;
        let (algorithm, envelope) = members.envelope()?;
        if algorithm != Algorithm::Ed25519 {
            return Err(Error::new(ErrorCode::UnsupportedAlgorithm, "algorithm must be \"Ed25519\""));
        }
        let Value::String(public_key) = members.next_required()? else {
            return Err(Error::new(ErrorCode::InvalidField, "publicKey: must be a string"));
        };
        let public_key = ed25519::raw_key_bytes(&decode_base64(&public_key, "publicKey")?)?;
        let Value::String(signature) = members.next_required()? else {
            return Err(Error::new(ErrorCode::InvalidField, "signature: must be a string"));
        };
        let signature: [u8; 64] = decode_base64(&signature, "signature")?
            .try_into()
            .map_err(|_| Error::new(ErrorCode::InvalidField, "signature: must decode to 64 bytes"))?;
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
        let mut object = self.envelope.to_members();
        for (name, value) in [
            ("publicKey", Value::String(encode_base64(&self.public_key))),
            ("signature", Value::String(encode_base64(&self.signature))),
        ] {
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

/// A proof of either kind, as a verifier receives it.
// Both variants are a few hundred bytes; boxing would cost an allocation per
// proof on the hot path for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum AnyProof {
    /// An Ed25519 proof (section 2).
    Ed25519(Proof),
    /// A WebAuthn proof (section 10).
    WebAuthn(WebAuthnProof),
}

impl AnyProof {
    /// Parses proof JSON of either kind from bytes under `limits`.
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<AnyProof> {
        AnyProof::from_value(json::parse(bytes, limits)?)
    }

    /// Builds a proof of either kind from a parsed JSON value; `algorithm`
    /// chooses the member table.
    pub fn from_value(value: Value) -> Result<AnyProof> {
        let Value::Object(object) = value else {
            return Err(Error::new(ErrorCode::InvalidType, "a proof must be a JSON object"));
        };
        if is_webauthn(&object) {
            WebAuthnProof::from_object(object).map(AnyProof::WebAuthn)
        } else {
            Proof::from_object(object).map(AnyProof::Ed25519)
        }
    }

    /// The signed envelope.
    pub fn envelope(&self) -> &Envelope {
        match self {
            AnyProof::Ed25519(p) => p.envelope(),
            AnyProof::WebAuthn(p) => p.envelope(),
        }
    }

    /// The key id: the Ed25519 key's thumbprint, or the WebAuthn credential id (base64url).
    pub fn key_id(&self) -> String {
        match self {
            AnyProof::Ed25519(p) => p.key_id(),
            AnyProof::WebAuthn(p) => p.key_id(),
        }
    }

    /// The proof as a JSON value.
    pub fn to_value(&self) -> Value {
        match self {
            AnyProof::Ed25519(p) => p.to_value(),
            AnyProof::WebAuthn(p) => p.to_value(),
        }
    }

    /// The proof as RFC 8785 canonical JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        canonicalize(&self.to_value())
    }
}

impl From<Proof> for AnyProof {
    fn from(proof: Proof) -> AnyProof {
        AnyProof::Ed25519(proof)
    }
}

impl From<WebAuthnProof> for AnyProof {
    fn from(proof: WebAuthnProof) -> AnyProof {
        AnyProof::WebAuthn(proof)
    }
}

impl Envelope {
    /// The envelope members (version .. nonce) as a JSON object.
    pub(crate) fn to_members(&self) -> Object {
        let mut object = Object::with_capacity(11);
        for (name, value) in [
            ("version", exact_integer(VERSION as u64)),
            ("algorithm", Value::String(self.algorithm.as_str().to_owned())),
            ("context", Value::Object(self.context.clone())),
            ("audience", Value::String(self.audience.clone())),
            ("timestamp", exact_integer(self.timestamp_ms)),
            ("nonce", Value::String(self.nonce.clone())),
        ] {
            // Names are distinct constants: insert cannot report a duplicate.
            let _ = object.insert(name.to_owned(), value);
        }
        object
    }
}

/// Whether a proof object is a WebAuthn proof: its `algorithm` member is the
/// string "WebAuthn". Anything else is read with the Ed25519 table, so every
/// proof a v1 verifier rejected before is rejected with the same code.
fn is_webauthn(object: &Object) -> bool {
    matches!(object.get("algorithm"), Some(Value::String(a)) if a == Algorithm::WebAuthn.as_str())
}

/// The members of a proof object, taken out in the order of a member table.
pub(crate) struct Members {
    slots: std::vec::IntoIter<(Option<Value>, &'static str, bool)>,
}

impl Members {
    /// Checks the member names (`unknown_field`) and presence (`missing_field`,
    /// in table order); the last `optional` names of the table may be absent.
    pub(crate) fn take(object: Object, table: &[&'static str], optional: usize) -> Result<Members> {
        let mut slots: Vec<Option<Value>> = vec![None; table.len()];
        for (name, member) in object.into_members() {
            let index = table
                .iter()
                .position(|known| *known == name)
                .ok_or_else(|| Error::new(ErrorCode::UnknownField, format!("unknown member {:?}", truncate(&name))))?;
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(member);
            }
        }
        let required = table.len().saturating_sub(optional);
        if let Some((_, name)) = slots.iter().zip(table).take(required).find(|(slot, _)| slot.is_none()) {
            return Err(Error::new(ErrorCode::MissingField, format!("missing member {name:?}")));
        }
        let slots: Vec<(Option<Value>, &'static str, bool)> =
            slots.into_iter().zip(table).enumerate().map(|(i, (v, n))| (v, *n, i >= required)).collect();
        Ok(Members { slots: slots.into_iter() })
    }

    /// The next member of the table (present: `take` checked it).
    pub(crate) fn next_required(&mut self) -> Result<Value> {
        match self.slots.next() {
            Some((Some(value), _, _)) => Ok(value),
            Some((None, name, _)) => Err(Error::new(ErrorCode::MissingField, format!("missing member {name:?}"))),
            None => Err(Error::new(ErrorCode::MissingField, "missing member")),
        }
    }

    /// The next member of the table, which may be absent.
    pub(crate) fn next_optional(&mut self) -> Option<Value> {
        self.slots.next().and_then(|(value, _, _)| value)
    }

    /// The envelope members, each checked completely, in table order
    /// (docs/PROTOCOL.md section 6 step 4).
    pub(crate) fn envelope(&mut self) -> Result<(Algorithm, Envelope)> {
        match self.next_required()? {
            Value::Number(n) if n.as_exact_i64() == Some(VERSION) => {}
            Value::Number(_) => return Err(Error::new(ErrorCode::UnsupportedVersion, "version must be 1")),
            _ => return Err(Error::new(ErrorCode::InvalidField, "version: must be a number")),
        }
        let Value::String(algorithm) = self.next_required()? else {
            return Err(Error::new(ErrorCode::InvalidField, "algorithm: must be a string"));
        };
        let algorithm = Algorithm::from_name(&algorithm)?;
        let Value::Object(context) = self.next_required()? else {
            return Err(Error::new(ErrorCode::InvalidField, "context: must be a JSON object"));
        };
        let subject = subject_of(&context)?;
        let Value::String(audience) = self.next_required()? else {
            return Err(Error::new(ErrorCode::InvalidField, "audience: must be a string"));
        };
        check_audience(&audience)?;
        let timestamp_ms = match self.next_required()? {
            Value::Number(n) => n.as_exact_i64().and_then(|t| u64::try_from(t).ok()),
            _ => None,
        }
        .ok_or_else(timestamp_error)?;
        check_timestamp(timestamp_ms)?;
        let Value::String(nonce) = self.next_required()? else {
            return Err(Error::new(ErrorCode::InvalidField, "nonce: must be a string"));
        };
        let nonce_bytes = decode_nonce(&nonce)?;
        let envelope = Envelope::from_checked(algorithm, context, subject, audience, timestamp_ms, nonce, nonce_bytes);
        Ok((algorithm, envelope))
    }
}

/// A JSON number for an integer the envelope already bounded to 0..=2^53-1,
/// which every double holds exactly (so the fallback is never taken).
fn exact_integer(n: u64) -> Value {
    Number::from_u64(n).map(Value::Number).unwrap_or(Value::Null)
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

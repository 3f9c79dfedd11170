//! WebAuthn proofs: the platform authenticator signs the exact context.
//!
//! A WebAuthn proof (docs/PROTOCOL.md section 10) is the v1 envelope plus an
//! assertion. Its challenge is [`challenge`]: base64url of the envelope's
//! signed digest with algorithm "WebAuthn", so the authenticator's signature
//! over `authenticatorData || SHA-256(clientDataJSON)` covers the canonical
//! context, audience, timestamp and nonce. The credential's public key never
//! travels with a proof: it was registered once ([`verify_registration`]) and
//! the verifier looks it up by credential id ([`Credential`]).
//!
//! Checks follow WebAuthn Level 2/3 section 7.2, with the choices this
//! protocol makes explicit: `clientDataJSON` is parsed with the core's strict
//! JSON parser; `crossOrigin: true` needs the relying party's consent; a
//! Token Binding "present" is refused (we cannot check it); the
//! user-verified flag is required unless the policy says otherwise; and a
//! non-increasing counter is reported only after the signature verified, so
//! nobody but the key holder can raise a clone alarm.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use minicbor::data::Type;
use minicbor::decode::Decoder;

use crate::cose::{is_int, CoseAlgorithm, CoseKey};
use crate::encoding::{decode_base64url, encode_base64url};
use crate::errors::{Error, ErrorCode, Result};
use crate::json::{self, Limits, Object, Value};
use crate::proof::{Algorithm, Envelope, Members, WEBAUTHN_MEMBERS};
use crate::verify::{check_envelope, Policy};

/// Longest credential id, in bytes (WebAuthn Level 3, section 6.1).
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;
/// Longest user handle, in bytes (WebAuthn `user.id`).
pub const MAX_USER_HANDLE_BYTES: usize = 64;
/// Longest assertion signature, in bytes (a 4096-bit RSA signature is 512).
pub const MAX_SIGNATURE_BYTES: usize = 1024;
/// Shortest registration challenge, in bytes (WebAuthn section 13.4.3).
pub const MIN_CHALLENGE_BYTES: usize = 16;
/// Shortest authenticator data: rpIdHash (32), flags (1), signCount (4).
pub const MIN_AUTHENTICATOR_DATA_BYTES: usize = 37;

/// `clientDataJSON.type` of an assertion.
pub const TYPE_GET: &str = "webauthn.get";
/// `clientDataJSON.type` of a registration.
pub const TYPE_CREATE: &str = "webauthn.create";

/// The flags byte of authenticator data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// Wraps a flags byte.
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits)
    }
    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// UP: the user was present (a gesture).
    pub const fn user_present(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// UV: the authenticator verified the user (biometric, PIN).
    pub const fn user_verified(self) -> bool {
        self.0 & 0x04 != 0
    }
    /// BE: the credential may be backed up (a synced passkey).
    pub const fn backup_eligible(self) -> bool {
        self.0 & 0x08 != 0
    }
    /// BS: the credential is backed up now.
    pub const fn backup_state(self) -> bool {
        self.0 & 0x10 != 0
    }
    /// AT: attested credential data follows the counter.
    pub const fn attested_credential_data(self) -> bool {
        self.0 & 0x40 != 0
    }
    /// ED: extension data (a CBOR map) ends the authenticator data.
    pub const fn extension_data(self) -> bool {
        self.0 & 0x80 != 0
    }
}

/// The credential an authenticator created, as attested in registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestedCredential {
    aaguid: [u8; 16],
    credential_id: Vec<u8>,
    public_key: CoseKey,
}

impl AttestedCredential {
    /// The authenticator model id (all zero when not disclosed).
    pub fn aaguid(&self) -> &[u8; 16] {
        &self.aaguid
    }
    /// The credential id.
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }
    /// The credential public key.
    pub fn public_key(&self) -> &CoseKey {
        &self.public_key
    }
}

/// Parsed authenticator data (WebAuthn section 6.1), with its exact bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatorData {
    bytes: Vec<u8>,
    rp_id_hash: [u8; 32],
    flags: Flags,
    sign_count: u32,
    attested: Option<AttestedCredential>,
}

impl AuthenticatorData {
    /// Parses authenticator data strictly: the flags say exactly what
    /// follows the counter, and nothing may follow that.
    pub fn parse(bytes: &[u8]) -> Result<AuthenticatorData> {
        let too_short =
            || invalid_auth_data(format!("{} bytes, at least {MIN_AUTHENTICATOR_DATA_BYTES} needed", bytes.len()));
        let (rp_id_hash, rest) = bytes.split_first_chunk::<32>().ok_or_else(too_short)?;
        let (flags, rest) = rest.split_first().ok_or_else(too_short)?;
        let (sign_count, mut rest) = rest.split_first_chunk::<4>().ok_or_else(too_short)?;
        let (rp_id_hash, flags, sign_count) = (*rp_id_hash, Flags(*flags), u32::from_be_bytes(*sign_count));
        if flags.backup_state() && !flags.backup_eligible() {
            return Err(invalid_auth_data("backup state (BS) set on a credential that is not backup eligible (BE)"));
        }
        let attested = if flags.attested_credential_data() {
            let truncated = || invalid_auth_data("truncated attested credential data");
            let (aaguid, after) = rest.split_first_chunk::<16>().ok_or_else(truncated)?;
            let (length, after) = after.split_first_chunk::<2>().ok_or_else(truncated)?;
            let length = usize::from(u16::from_be_bytes(*length));
            if length == 0 || length > MAX_CREDENTIAL_ID_BYTES {
                return Err(invalid_auth_data(format!("credential id of {length} bytes")));
            }
            let (credential_id, after) = after.split_at_checked(length).ok_or_else(truncated)?;
            let (public_key, used) = CoseKey::decode_prefix(after)?;
            rest = after.get(used..).unwrap_or_default();
            Some(AttestedCredential { aaguid: *aaguid, credential_id: credential_id.to_vec(), public_key })
        } else {
            None
        };
        if flags.extension_data() {
            let mut decoder = Decoder::new(rest);
            let is_map = matches!(decoder.datatype(), Ok(Type::Map | Type::MapIndef));
            if !is_map || decoder.skip().is_err() {
                return Err(invalid_auth_data("extension data (ED) is not one CBOR map"));
            }
            rest = rest.get(decoder.position()..).unwrap_or_default();
        }
        if !rest.is_empty() {
            return Err(invalid_auth_data(format!("{} unexpected trailing bytes", rest.len())));
        }
        Ok(AuthenticatorData { bytes: bytes.to_vec(), rp_id_hash, flags, sign_count, attested })
    }

    /// The exact bytes (what the authenticator signed).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// SHA-256 of the relying party id the authenticator scoped the credential to.
    pub fn rp_id_hash(&self) -> &[u8; 32] {
        &self.rp_id_hash
    }
    /// The flags.
    pub fn flags(&self) -> Flags {
        self.flags
    }
    /// The signature counter (0 if the authenticator keeps none).
    pub fn sign_count(&self) -> u32 {
        self.sign_count
    }
    /// The attested credential (registration only).
    pub fn attested_credential(&self) -> Option<&AttestedCredential> {
        self.attested.as_ref()
    }
}

/// The members of `clientDataJSON` (WebAuthn section 5.8.1) that verification uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientData {
    kind: String,
    challenge: String,
    origin: String,
    cross_origin: bool,
    top_origin: Option<String>,
    token_binding_present: bool,
}

impl ClientData {
    /// Parses `clientDataJSON` with the core's strict JSON rules (no
    /// duplicate members, exact numbers, UTF-8). Members other than the ones
    /// below are allowed and ignored, as WebAuthn requires.
    pub fn parse(bytes: &[u8]) -> Result<ClientData> {
        let value = json::parse(bytes, &Limits::default())
            .map_err(|e| invalid_client_data(format!("not strict JSON ({}: {})", e.code(), e.detail())))?;
        let Value::Object(object) = value else {
            return Err(invalid_client_data("not a JSON object"));
        };
        let text = |name: &str| -> Result<String> {
            match object.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                _ => Err(invalid_client_data(format!("{name}: must be a string"))),
            }
        };
        let kind = text("type")?;
        let challenge = text("challenge")?;
        let origin = text("origin")?;
        let cross_origin = match object.get("crossOrigin") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid_client_data("crossOrigin: must be a boolean")),
        };
        let top_origin = match object.get("topOrigin") {
            None => None,
            Some(Value::String(s)) if cross_origin => Some(s.clone()),
            Some(_) => return Err(invalid_client_data("topOrigin: must be a string, and only with crossOrigin: true")),
        };
        let token_binding_present = match object.get("tokenBinding") {
            None => false,
            Some(Value::Object(binding)) => match binding.get("status") {
                Some(Value::String(status)) => status == "present",
                _ => return Err(invalid_client_data("tokenBinding.status: must be a string")),
            },
            Some(_) => return Err(invalid_client_data("tokenBinding: must be an object")),
        };
        Ok(ClientData { kind, challenge, origin, cross_origin, top_origin, token_binding_present })
    }

    /// `type`: "webauthn.get" or "webauthn.create".
    pub fn kind(&self) -> &str {
        &self.kind
    }
    /// `challenge`, as the client wrote it (base64url).
    pub fn challenge(&self) -> &str {
        &self.challenge
    }
    /// `origin` of the page that ran the ceremony.
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// `crossOrigin` (false when absent).
    pub fn cross_origin(&self) -> bool {
        self.cross_origin
    }
    /// `topOrigin` (cross-origin ceremonies only).
    pub fn top_origin(&self) -> Option<&str> {
        self.top_origin.as_deref()
    }
}

/// What an authenticator returned from `navigator.credentials.get()`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assertion {
    credential_id: Vec<u8>,
    authenticator_data: AuthenticatorData,
    client_data_json: Vec<u8>,
    client_data: ClientData,
    client_data_hash: [u8; 32],
    signature: Vec<u8>,
    user_handle: Option<Vec<u8>>,
}

impl Assertion {
    /// Checks and parses the parts of an assertion (each as in section 10's
    /// member table, in its order); nothing is verified yet.
    pub fn new(
        credential_id: Vec<u8>,
        authenticator_data: &[u8],
        client_data_json: Vec<u8>,
        signature: Vec<u8>,
        user_handle: Option<Vec<u8>>,
    ) -> Result<Assertion> {
        check_credential_id(&credential_id, "credentialId")?;
        let authenticator_data = assertion_authenticator_data(authenticator_data)?;
        let client_data = ClientData::parse(&client_data_json)?;
        check_signature(&signature)?;
        if let Some(handle) = &user_handle {
            check_user_handle(handle, "userHandle")?;
        }
        Ok(Assertion::from_checked(
            credential_id,
            authenticator_data,
            client_data_json,
            client_data,
            signature,
            user_handle,
        ))
    }

    fn from_checked(
        credential_id: Vec<u8>,
        authenticator_data: AuthenticatorData,
        client_data_json: Vec<u8>,
        client_data: ClientData,
        signature: Vec<u8>,
        user_handle: Option<Vec<u8>>,
    ) -> Assertion {
        let client_data_hash = Sha256::digest(&client_data_json).into();
        Assertion {
            credential_id,
            authenticator_data,
            client_data_json,
            client_data,
            client_data_hash,
            signature,
            user_handle,
        }
    }

    /// The credential id the authenticator used.
    pub fn credential_id(&self) -> &[u8] {
        &self.credential_id
    }
    /// The authenticator data.
    pub fn authenticator_data(&self) -> &AuthenticatorData {
        &self.authenticator_data
    }
    /// The exact `clientDataJSON` bytes.
    pub fn client_data_json(&self) -> &[u8] {
        &self.client_data_json
    }
    /// The parsed client data.
    pub fn client_data(&self) -> &ClientData {
        &self.client_data
    }
    /// The signature (DER for ES256, 64 bytes for EdDSA, modulus-sized for RS256).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// The user handle, for discoverable credentials.
    pub fn user_handle(&self) -> Option<&[u8]> {
        self.user_handle.as_deref()
    }
    /// What the authenticator signed: `authenticatorData || SHA-256(clientDataJSON)`.
    pub fn signed_message(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(self.authenticator_data.bytes.len() + 32);
        message.extend_from_slice(&self.authenticator_data.bytes);
        message.extend_from_slice(&self.client_data_hash);
        message
    }
}

/// A WebAuthn proof: the v1 envelope (algorithm "WebAuthn") and an assertion
/// over its challenge. Well-formed, not verified: see [`verify_proof`].
#[derive(Clone, Debug, PartialEq)]
pub struct WebAuthnProof {
    envelope: Envelope,
    assertion: Assertion,
}

impl WebAuthnProof {
    pub(crate) fn new(envelope: Envelope, assertion: Assertion) -> WebAuthnProof {
        WebAuthnProof { envelope, assertion }
    }

    /// Reads the members of section 10's table, each checked completely, in order.
    pub(crate) fn from_object(object: Object) -> Result<WebAuthnProof> {
        let mut members = Members::take(object, &WEBAUTHN_MEMBERS, 1)?;
        let (_, envelope) = members.envelope()?;
        let credential_id = binary(members.next_required()?, "credentialId")?;
        check_credential_id(&credential_id, "credentialId")?;
        let authenticator_data = assertion_authenticator_data(&binary(members.next_required()?, "authenticatorData")?)?;
        let client_data_json = binary(members.next_required()?, "clientDataJSON")?;
        let client_data = ClientData::parse(&client_data_json)?;
        let signature = binary(members.next_required()?, "signature")?;
        check_signature(&signature)?;
        let user_handle = match members.next_optional() {
            None => None,
            Some(value) => {
                let handle = binary(value, "userHandle")?;
                check_user_handle(&handle, "userHandle")?;
                Some(handle)
            }
        };
        let assertion = Assertion::from_checked(
            credential_id,
            authenticator_data,
            client_data_json,
            client_data,
            signature,
            user_handle,
        );
        Ok(WebAuthnProof { envelope: envelope.with_algorithm(Algorithm::WebAuthn), assertion })
    }

    /// The signed envelope.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }
    /// The assertion.
    pub fn assertion(&self) -> &Assertion {
        &self.assertion
    }
    /// The key id of a WebAuthn proof: its credential id, base64url.
    pub fn key_id(&self) -> String {
        encode_base64url(&self.assertion.credential_id)
    }

    /// The proof as a JSON value (binary members as unpadded base64url).
    pub fn to_value(&self) -> Value {
        let mut object = self.envelope.to_members();
        let a = &self.assertion;
        let mut members = vec![
            ("credentialId", &a.credential_id[..]),
            ("authenticatorData", &a.authenticator_data.bytes[..]),
            ("clientDataJSON", &a.client_data_json[..]),
            ("signature", &a.signature[..]),
        ];
        if let Some(handle) = &a.user_handle {
            members.push(("userHandle", handle));
        }
        for (name, bytes) in members {
            // Names are distinct constants: insert cannot report a duplicate.
            let _ = object.insert(name.to_owned(), Value::String(encode_base64url(bytes)));
        }
        Value::Object(object)
    }
}

/// A registered credential, as a key registry stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    id: Vec<u8>,
    public_key: CoseKey,
    sign_count: u32,
    user_handle: Option<Vec<u8>>,
}

impl Credential {
    /// A credential from its id, its validated key and the last accepted counter.
    pub fn new(id: Vec<u8>, public_key: CoseKey, sign_count: u32) -> Result<Credential> {
        check_credential_id(&id, "credential id")?;
        Ok(Credential { id, public_key, sign_count, user_handle: None })
    }

    /// A credential from its id, its COSE_Key bytes and the last accepted counter.
    pub fn from_cose(id: Vec<u8>, public_key: &[u8], sign_count: u32) -> Result<Credential> {
        Credential::new(id, CoseKey::from_cbor(public_key)?, sign_count)
    }

    /// Binds the credential to a user handle: an assertion that reports a
    /// different one is then `untrusted_key`.
    pub fn with_user_handle(mut self, user_handle: Vec<u8>) -> Result<Credential> {
        check_user_handle(&user_handle, "user handle")?;
        self.user_handle = Some(user_handle);
        Ok(self)
    }

    /// The credential id.
    pub fn id(&self) -> &[u8] {
        &self.id
    }
    /// The public key.
    pub fn public_key(&self) -> &CoseKey {
        &self.public_key
    }
    /// The last accepted signature counter.
    pub fn sign_count(&self) -> u32 {
        self.sign_count
    }
    /// The user handle, if bound.
    pub fn user_handle(&self) -> Option<&[u8]> {
        self.user_handle.as_deref()
    }
    /// The key id: the credential id, base64url.
    pub fn key_id(&self) -> String {
        encode_base64url(&self.id)
    }
}

/// The relying party's WebAuthn policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelyingParty {
    /// The RP ID credentials are scoped to (a registrable domain, e.g. "example.com").
    pub rp_id: String,
    /// Every origin allowed to run a ceremony, compared as exact strings
    /// ("https://example.com", "https://app.example.com:8443").
    pub origins: Vec<String>,
    /// Require the user-verified (UV) flag (default: true).
    pub require_user_verification: bool,
    /// Accept ceremonies run in a cross-origin iframe (default: false);
    /// their `topOrigin`, if given, must then be in `origins` too.
    pub allow_cross_origin: bool,
}

impl RelyingParty {
    /// A policy requiring user verification and a same-origin ceremony.
    pub fn new<S: Into<String>>(rp_id: impl Into<String>, origins: impl IntoIterator<Item = S>) -> RelyingParty {
        RelyingParty {
            rp_id: rp_id.into(),
            origins: origins.into_iter().map(Into::into).collect(),
            require_user_verification: true,
            allow_cross_origin: false,
        }
    }

    fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }
}

/// The authenticator's state after an accepted assertion: what the relay
/// stores back into the credential record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuthenticatorState {
    /// The new signature counter (store it; 0 means the authenticator keeps none).
    pub sign_count: u32,
    /// The flags (UV, backup eligibility and state).
    pub flags: Flags,
}

/// The WebAuthn challenge of an envelope: base64url (no padding) of its
/// signed digest under algorithm "WebAuthn" (docs/PROTOCOL.md section 10.2).
pub fn challenge(envelope: &Envelope) -> String {
    if envelope.algorithm() == Algorithm::WebAuthn {
        encode_base64url(envelope.signed_digest())
    } else {
        encode_base64url(&envelope.signed_digest_for(Algorithm::WebAuthn))
    }
}

/// Finds the registered credential an assertion names (section 10.3 step 5).
pub fn find_credential<'a>(assertion: &Assertion, credentials: &'a [Credential]) -> Result<&'a Credential> {
    let credential = credentials
        .iter()
        .find(|c| c.id == assertion.credential_id)
        .ok_or_else(|| Error::new(ErrorCode::UntrustedKey, "the credential is not registered for this subject"))?;
    check_user_handle_matches(assertion, credential)?;
    Ok(credential)
}

fn check_user_handle_matches(assertion: &Assertion, credential: &Credential) -> Result<()> {
    if let (Some(reported), Some(bound)) = (&assertion.user_handle, &credential.user_handle) {
        if reported != bound {
            return Err(Error::new(ErrorCode::UntrustedKey, "the assertion's user handle is not the credential's"));
        }
    }
    Ok(())
}

/// Verifies a WebAuthn proof completely (except nonce uniqueness, the
/// caller's): credential, audience, freshness, ceremony, signature, counter.
pub fn verify_proof(
    proof: &WebAuthnProof,
    credentials: &[Credential],
    policy: &Policy,
    relying_party: &RelyingParty,
) -> Result<AuthenticatorState> {
    let credential = find_credential(&proof.assertion, credentials)?;
    check_envelope(&proof.envelope, policy)?;
    verify_assertion(&proof.assertion, &challenge(&proof.envelope), credential, relying_party)
}

/// The assertion checks of WebAuthn section 7.2 against an expected challenge
/// (for a proof: [`challenge`] of its envelope), in the order of
/// docs/PROTOCOL.md section 10.3; returns the authenticator's new state.
pub fn verify_assertion(
    assertion: &Assertion,
    expected_challenge: &str,
    credential: &Credential,
    relying_party: &RelyingParty,
) -> Result<AuthenticatorState> {
    if assertion.credential_id != credential.id {
        return Err(Error::new(ErrorCode::UntrustedKey, "the assertion names another credential"));
    }
    check_user_handle_matches(assertion, credential)?;
    check_client_data(&assertion.client_data, TYPE_GET, expected_challenge, relying_party)?;
    let data = &assertion.authenticator_data;
    check_authenticator_data(data, relying_party)?;
    credential.public_key.verify(&assertion.signed_message(), &assertion.signature)?;
    // After the signature: only the key holder can make a counter go backwards.
    if (data.sign_count != 0 || credential.sign_count != 0) && data.sign_count <= credential.sign_count {
        return Err(Error::new(
            ErrorCode::CounterNotIncreasing,
            format!("signature counter {} is not above the stored {}", data.sign_count, credential.sign_count),
        ));
    }
    Ok(AuthenticatorState { sign_count: data.sign_count, flags: data.flags })
}

fn check_client_data(client_data: &ClientData, kind: &str, challenge: &str, rp: &RelyingParty) -> Result<()> {
    if client_data.kind != kind {
        return Err(Error::new(ErrorCode::WebauthnTypeMismatch, format!("clientDataJSON.type must be {kind:?}")));
    }
    if client_data.challenge != challenge {
        return Err(Error::new(ErrorCode::ChallengeMismatch, "clientDataJSON.challenge is not the expected challenge"));
    }
    if !rp.allows_origin(&client_data.origin) {
        return Err(Error::new(
            ErrorCode::OriginNotAllowed,
            format!("origin {:?} is not allowed", truncate(&client_data.origin)),
        ));
    }
    if client_data.cross_origin {
        if !rp.allow_cross_origin {
            return Err(Error::new(ErrorCode::CrossOriginNotAllowed, "the ceremony ran in a cross-origin frame"));
        }
        if let Some(top) = &client_data.top_origin {
            if !rp.allows_origin(top) {
                return Err(Error::new(
                    ErrorCode::OriginNotAllowed,
                    format!("top origin {:?} is not allowed", truncate(top)),
                ));
            }
        }
    }
    if client_data.token_binding_present {
        return Err(Error::new(ErrorCode::TokenBindingUnsupported, "tokenBinding.status is \"present\""));
    }
    Ok(())
}

fn check_authenticator_data(data: &AuthenticatorData, rp: &RelyingParty) -> Result<()> {
    let expected: [u8; 32] = Sha256::digest(rp.rp_id.as_bytes()).into();
    if !bool::from(expected.ct_eq(&data.rp_id_hash)) {
        return Err(Error::new(ErrorCode::RpIdMismatch, "rpIdHash is not SHA-256 of the relying party id"));
    }
    if !data.flags.user_present() {
        return Err(Error::new(ErrorCode::UserNotPresent, "the user-present (UP) flag is not set"));
    }
    if rp.require_user_verification && !data.flags.user_verified() {
        return Err(Error::new(ErrorCode::UserNotVerified, "user verification is required and UV is not set"));
    }
    Ok(())
}

/// The attestation statement formats accepted at registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttestationFormat {
    /// "none": no statement about the authenticator.
    None,
    /// "packed" self attestation: signed by the credential key itself.
    PackedSelf,
}

impl AttestationFormat {
    /// The `fmt` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            AttestationFormat::None => "none",
            AttestationFormat::PackedSelf => "packed",
        }
    }
}

/// A verified registration: what a key registry stores for the credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    credential: Credential,
    aaguid: [u8; 16],
    flags: Flags,
    format: AttestationFormat,
}

impl Registration {
    /// The credential (id, COSE key, initial counter), ready to trust.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }
    /// Consumes the registration, giving the credential.
    pub fn into_credential(self) -> Credential {
        self.credential
    }
    /// The authenticator model id (all zero when not disclosed).
    pub fn aaguid(&self) -> &[u8; 16] {
        &self.aaguid
    }
    /// The flags at registration (UV, backup eligibility and state).
    pub fn flags(&self) -> Flags {
        self.flags
    }
    /// The attestation format.
    pub fn format(&self) -> AttestationFormat {
        self.format
    }
}

/// Verifies a registration (WebAuthn section 7.1) for a challenge the
/// relying party issued, in the order of docs/PROTOCOL.md section 10.5.
///
/// Attestation formats: "none", and "packed" self attestation (no `x5c`);
/// every other format, and packed with a certificate chain, is
/// `attestation_unsupported` (this protocol trusts the registration
/// ceremony, not authenticator vendors).
pub fn verify_registration(
    attestation_object: &[u8],
    client_data_json: &[u8],
    challenge: &[u8],
    relying_party: &RelyingParty,
) -> Result<Registration> {
    if challenge.len() < MIN_CHALLENGE_BYTES {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("challenge: at least {MIN_CHALLENGE_BYTES} random bytes are required"),
        ));
    }
    let client_data = ClientData::parse(client_data_json)?;
    check_client_data(&client_data, TYPE_CREATE, &encode_base64url(challenge), relying_party)?;
    let attestation = AttestationObject::parse(attestation_object)?;
    let data = AuthenticatorData::parse(attestation.auth_data)?;
    let Some(attested) = data.attested.clone() else {
        return Err(invalid_auth_data("no attested credential data (AT) in a registration"));
    };
    check_authenticator_data(&data, relying_party)?;
    let client_data_hash: [u8; 32] = Sha256::digest(client_data_json).into();
    let format = attestation.verify_statement(&data, &client_data_hash, &attested.public_key)?;
    let credential = Credential::new(attested.credential_id, attested.public_key, data.sign_count)?;
    Ok(Registration { credential, aaguid: attested.aaguid, flags: data.flags, format })
}

/// The three members of an attestation object (WebAuthn section 6.5).
struct AttestationObject<'b> {
    fmt: &'b str,
    statement: &'b [u8],
    auth_data: &'b [u8],
}

impl<'b> AttestationObject<'b> {
    fn parse(bytes: &'b [u8]) -> Result<AttestationObject<'b>> {
        let cbor = |_| invalid_attestation("attestationObject is not well-formed CBOR");
        let mut d = Decoder::new(bytes);
        let entries = match d.datatype().map_err(cbor)? {
            Type::Map => d.map().map_err(cbor)?.unwrap_or(0),
            _ => return Err(invalid_attestation("attestationObject is not a definite-length CBOR map")),
        };
        let (mut fmt, mut statement, mut auth_data) = (None, None, None);
        for _ in 0..entries {
            if d.datatype().map_err(cbor)? != Type::String {
                return Err(invalid_attestation("attestationObject keys must be text"));
            }
            let key = d.str().map_err(cbor)?;
            let slot_taken = match key {
                "fmt" => fmt.replace(read_str(&mut d)?).is_some(),
                "attStmt" => {
                    let start = d.position();
                    d.skip().map_err(cbor)?;
                    statement.replace(bytes.get(start..d.position()).unwrap_or_default()).is_some()
                }
                "authData" => {
                    if d.datatype().map_err(cbor)? != Type::Bytes {
                        return Err(invalid_attestation("authData must be a byte string"));
                    }
                    auth_data.replace(d.bytes().map_err(cbor)?).is_some()
                }
                _ => {
                    d.skip().map_err(cbor)?;
                    false
                }
            };
            if slot_taken {
                return Err(invalid_attestation(format!("{key:?} twice")));
            }
        }
        if d.position() != bytes.len() {
            return Err(invalid_attestation("trailing bytes after the attestation object"));
        }
        match (fmt, statement, auth_data) {
            (Some(fmt), Some(statement), Some(auth_data)) => Ok(AttestationObject { fmt, statement, auth_data }),
            _ => Err(invalid_attestation("fmt, attStmt and authData are all required")),
        }
    }

    fn verify_statement(
        &self,
        data: &AuthenticatorData,
        client_data_hash: &[u8; 32],
        key: &CoseKey,
    ) -> Result<AttestationFormat> {
        let cbor = |_| invalid_attestation("attStmt is not well-formed CBOR");
        let mut d = Decoder::new(self.statement);
        let entries = match d.datatype().map_err(cbor)? {
            Type::Map => d.map().map_err(cbor)?.unwrap_or(0),
            _ => return Err(invalid_attestation("attStmt is not a definite-length CBOR map")),
        };
        match self.fmt {
            "none" if entries == 0 => Ok(AttestationFormat::None),
            "none" => Err(invalid_attestation("attStmt of \"none\" must be empty")),
            "packed" => {
                let (mut alg, mut sig, mut chain) = (None, None, false);
                let mut seen: Vec<&str> = Vec::new();
                for _ in 0..entries {
                    if d.datatype().map_err(cbor)? != Type::String {
                        return Err(invalid_attestation("attStmt keys must be text"));
                    }
                    let name = d.str().map_err(cbor)?;
                    if seen.contains(&name) {
                        return Err(invalid_attestation(format!("attStmt.{name} twice")));
                    }
                    seen.push(name);
                    match name {
                        "alg" if d.datatype().is_ok_and(is_int) => alg = Some(d.i64().map_err(cbor)?),
                        "sig" if matches!(d.datatype(), Ok(Type::Bytes)) => sig = Some(d.bytes().map_err(cbor)?),
                        "x5c" | "ecdaaKeyId" => {
                            chain = true;
                            d.skip().map_err(cbor)?;
                        }
                        _ => {
                            return Err(invalid_attestation(format!(
                                "attStmt.{} is not a packed member of the right type",
                                truncate(name)
                            )))
                        }
                    }
                }
                if chain {
                    return Err(Error::new(
                        ErrorCode::AttestationUnsupported,
                        "packed attestation with a certificate chain (x5c): only self attestation is accepted",
                    ));
                }
                let (Some(alg), Some(sig)) = (alg, sig) else {
                    return Err(invalid_attestation("packed self attestation needs alg and sig"));
                };
                if alg != key.algorithm().id() || CoseAlgorithm::from_id(alg).is_err() {
                    return Err(invalid_attestation(format!(
                        "attStmt.alg {alg} is not the credential key's {}",
                        key.algorithm().id()
                    )));
                }
                let mut message = Vec::with_capacity(data.bytes.len() + 32);
                message.extend_from_slice(&data.bytes);
                message.extend_from_slice(client_data_hash);
                key.verify(&message, sig)?;
                Ok(AttestationFormat::PackedSelf)
            }
            other => Err(Error::new(
                ErrorCode::AttestationUnsupported,
                format!(
                    "attestation format {:?}: only \"none\" and \"packed\" self attestation are accepted",
                    truncate(other)
                ),
            )),
        }
    }
}

fn read_str<'b>(d: &mut Decoder<'b>) -> Result<&'b str> {
    match d.datatype() {
        Ok(Type::String) => d.str().map_err(|_| invalid_attestation("fmt is not valid text")),
        _ => Err(invalid_attestation("fmt must be a text string")),
    }
}

/// Authenticator data of an assertion: well-formed, and without attested
/// credential data (CTAP2 never sends it in an assertion).
fn assertion_authenticator_data(bytes: &[u8]) -> Result<AuthenticatorData> {
    let data = AuthenticatorData::parse(bytes)?;
    if data.attested.is_some() {
        return Err(invalid_auth_data("attested credential data (AT) in an assertion"));
    }
    Ok(data)
}

fn binary(value: Value, member: &str) -> Result<Vec<u8>> {
    let Value::String(text) = value else {
        return Err(Error::new(ErrorCode::InvalidField, format!("{member}: must be a string")));
    };
    decode_base64url(&text, member)
}

fn check_credential_id(id: &[u8], what: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_CREDENTIAL_ID_BYTES {
        return Err(Error::new(
            ErrorCode::InvalidField,
            format!("{what}: must be 1..={MAX_CREDENTIAL_ID_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn check_user_handle(handle: &[u8], what: &str) -> Result<()> {
    if handle.is_empty() || handle.len() > MAX_USER_HANDLE_BYTES {
        return Err(Error::new(ErrorCode::InvalidField, format!("{what}: must be 1..={MAX_USER_HANDLE_BYTES} bytes")));
    }
    Ok(())
}

fn check_signature(signature: &[u8]) -> Result<()> {
    if signature.is_empty() || signature.len() > MAX_SIGNATURE_BYTES {
        return Err(Error::new(ErrorCode::InvalidField, format!("signature: must be 1..={MAX_SIGNATURE_BYTES} bytes")));
    }
    Ok(())
}

fn invalid_auth_data(detail: impl Into<String>) -> Error {
    let detail: String = detail.into();
    Error::new(ErrorCode::InvalidAuthenticatorData, format!("authenticatorData: {detail}"))
}

fn invalid_client_data(detail: impl Into<String>) -> Error {
    let detail: String = detail.into();
    Error::new(ErrorCode::InvalidClientData, format!("clientDataJSON: {detail}"))
}

fn invalid_attestation(detail: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidAttestation, detail)
}

fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}

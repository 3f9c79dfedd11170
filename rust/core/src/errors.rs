//! The one set of error codes of proof-messenger.
//!
//! Every implementation (Rust, Python, JavaScript) reports failures with these
//! snake_case strings; docs/PROTOCOL.md section "Error codes" is the contract
//! and tests in every binding fail when a binding's list drifts from
//! [`ErrorCode::ALL`].

use core::fmt;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, )+) => {
        /// A stable, machine-readable reason why input or a proof was rejected.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )+
        }

        impl ErrorCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$variant, )+ ];

            /// The stable wire string of this code.
            pub const fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$variant => $code, )+ }
            }

            /// Looks a code up by its wire string.
            pub fn from_code(code: &str) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$variant), )+ _ => None }
            }
        }
    };
}

error_codes! {
    // --- input: bytes and JSON text ---
    /// The input is larger than the configured limit.
    InputTooLarge => "input_too_large",
    /// Arrays/objects are nested deeper than the configured limit.
    NestingTooDeep => "nesting_too_deep",
    /// The bytes are not valid UTF-8.
    InvalidUtf8 => "invalid_utf8",
    /// The text is not JSON (syntax error, trailing data, control character in a string).
    InvalidJson => "invalid_json",
    /// An object has the same member name twice.
    DuplicateKey => "duplicate_key",
    /// A string contains an unpaired UTF-16 surrogate.
    LoneSurrogate => "lone_surrogate",
    /// A number is NaN or infinite, or overflows an IEEE 754 double.
    NonFiniteNumber => "non_finite_number",
    /// A number does not round-trip exactly through an IEEE 754 double.
    InexactNumber => "inexact_number",
    /// A value has a type JSON cannot carry, or an object key is not a string.
    InvalidType => "invalid_type",
    // --- proof structure ---
    /// A required proof member is missing.
    MissingField => "missing_field",
    /// The proof has a member the protocol does not define.
    UnknownField => "unknown_field",
    /// A proof member has the wrong type, length or format.
    InvalidField => "invalid_field",
    /// The proof's `version` is not supported.
    UnsupportedVersion => "unsupported_version",
    /// The proof's `algorithm` is not in the allowlist.
    UnsupportedAlgorithm => "unsupported_algorithm",
    /// A binary member is not canonical base64 / base64url.
    InvalidBase64 => "invalid_base64",
    /// The public key is not a valid Ed25519 key (length, SPKI, encoding, curve).
    InvalidPublicKey => "invalid_public_key",
    /// The public key is a point of small order.
    WeakPublicKey => "weak_public_key",
    // --- policy ---
    /// The proof's key is not trusted for the subject.
    UntrustedKey => "untrusted_key",
    /// Trust is resolved per subject but the context names none.
    MissingSubject => "missing_subject",
    /// The proof is addressed to a different audience.
    AudienceMismatch => "audience_mismatch",
    /// The proof's timestamp is older than the maximum age.
    ProofExpired => "proof_expired",
    /// The proof's timestamp is further in the future than the allowed clock skew.
    TimestampInFuture => "timestamp_in_future",
    /// The signature does not verify (includes non-canonical S and small-order R).
    BadSignature => "bad_signature",
    // --- service (produced by the Relay Server, defined here so every binding shares them) ---
    /// The proof's nonce was already accepted once.
    NonceReplayed => "nonce_replayed",
    // --- WebAuthn (docs/PROTOCOL.md section 10): structure ---
    /// `authenticatorData` is malformed (length, flags, attested data, extensions, trailing bytes).
    InvalidAuthenticatorData => "invalid_authenticator_data",
    /// `clientDataJSON` is not a JSON object with string `type`, `challenge` and `origin`.
    InvalidClientData => "invalid_client_data",
    /// An attestation object or statement is malformed or inconsistent.
    InvalidAttestation => "invalid_attestation",
    /// The attestation format is not "none" or "packed" self attestation.
    AttestationUnsupported => "attestation_unsupported",
    /// A credential's COSE algorithm is not ES256, EdDSA (Ed25519) or RS256.
    UnsupportedCoseAlgorithm => "unsupported_cose_algorithm",
    /// A COSE public key is malformed or not a valid key of its algorithm.
    InvalidCoseKey => "invalid_cose_key",
    // --- WebAuthn: ceremony ---
    /// `clientDataJSON.type` is not the ceremony's ("webauthn.get" or "webauthn.create").
    WebauthnTypeMismatch => "webauthn_type_mismatch",
    /// `clientDataJSON.challenge` is not the expected challenge.
    ChallengeMismatch => "challenge_mismatch",
    /// `clientDataJSON.origin` (or `topOrigin`) is not in the allowed origins.
    OriginNotAllowed => "origin_not_allowed",
    /// The ceremony ran in a cross-origin frame and the policy does not allow it.
    CrossOriginNotAllowed => "cross_origin_not_allowed",
    /// The client claims Token Binding was used, which this verifier cannot check.
    TokenBindingUnsupported => "token_binding_unsupported",
    /// `authenticatorData.rpIdHash` is not SHA-256 of the relying party id.
    RpIdMismatch => "rp_id_mismatch",
    /// The authenticator did not set the user-present (UP) flag.
    UserNotPresent => "user_not_present",
    /// User verification is required and the UV flag is not set.
    UserNotVerified => "user_not_verified",
    /// A validly signed signature counter did not increase (a cloned authenticator?).
    CounterNotIncreasing => "counter_not_increasing",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error with its stable code and a human-readable detail.
///
/// The detail never contains secret material or the full context; it names
/// the offending member or position so that a developer can fix the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    detail: String,
}

impl Error {
    /// Creates an error with a code and a detail message.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Error { code, detail: detail.into() }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for Error {}

/// Result alias used throughout the core.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert_eq!(ErrorCode::from_code(code.as_str()), Some(*code));
            assert!(code.as_str().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        }
        assert_eq!(ErrorCode::from_code("no_such_code"), None);
    }
}

//! Verification of one proof against trusted keys and a policy.
//!
//! The order is the protocol's (docs/PROTOCOL.md, "Verification"): trust,
//! audience, freshness, then the signature, so that every cheap rejection
//! happens before curve arithmetic. Nonce uniqueness needs storage and is the
//! caller's job; [`Policy::expires_at_ms`] says how long to remember a nonce.
//!
//! [`verify`] takes Ed25519 proofs and keys; [`verify_with`] takes a proof of
//! either kind, the trusted Ed25519 keys and WebAuthn credentials, and the
//! relying party's WebAuthn policy.

use crate::ed25519::{self, PublicKey};
use crate::errors::{Error, ErrorCode, Result};
use crate::proof::{AnyProof, Envelope, Proof};
use crate::webauthn::{self, AuthenticatorState, Credential, RelyingParty};

/// Default maximum age of a proof: 5 minutes.
pub const DEFAULT_MAX_AGE_MS: u64 = 300_000;
/// Default tolerated clock skew into the future: 30 seconds.
pub const DEFAULT_MAX_SKEW_MS: u64 = 30_000;

/// What a verifier requires of a proof. `now_ms` is injected by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// The audience this verifier answers to; a proof for any other is rejected.
    pub audience: String,
    /// The verifier's current time, Unix milliseconds.
    pub now_ms: u64,
    /// How old a proof may be.
    pub max_age_ms: u64,
    /// How far in the future a proof's timestamp may be (clock skew).
    pub max_skew_ms: u64,
}

impl Policy {
    /// A policy with the default max age and skew.
    pub fn new(audience: impl Into<String>, now_ms: u64) -> Policy {
        Policy { audience: audience.into(), now_ms, max_age_ms: DEFAULT_MAX_AGE_MS, max_skew_ms: DEFAULT_MAX_SKEW_MS }
    }

    /// Until when a proof accepted under this policy stays fresh: a replay
    /// store must remember its nonce at least this long.
    pub fn expires_at_ms(&self, proof: &Proof) -> u64 {
        self.expires_at(proof.envelope())
    }

    /// [`Policy::expires_at_ms`] for the envelope of a proof of either kind.
    pub fn expires_at(&self, envelope: &Envelope) -> u64 {
        envelope.timestamp_ms().saturating_add(self.max_age_ms)
    }
}

/// What a verifier trusts for one subject: Ed25519 keys and registered
/// WebAuthn credentials.
#[derive(Clone, Copy, Debug, Default)]
pub struct Trusted<'a> {
    /// Trusted Ed25519 keys.
    pub keys: &'a [PublicKey],
    /// Registered WebAuthn credentials (with their last accepted counters).
    pub credentials: &'a [Credential],
}

impl<'a> Trusted<'a> {
    /// Ed25519 keys only.
    pub const fn keys(keys: &'a [PublicKey]) -> Trusted<'a> {
        Trusted { keys, credentials: &[] }
    }
}

/// What a successful verification established beyond "valid".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// An Ed25519 proof.
    Ed25519,
    /// A WebAuthn proof, and the authenticator's new state (counter, flags)
    /// to store in the credential record.
    WebAuthn(AuthenticatorState),
}

/// Finds the trusted key that the proof carries.
///
/// The proof's own key is never trusted by itself: it must equal one of the
/// caller's keys (validated when they were constructed, so a weak key can
/// never be found here).
pub fn trusted_key<'a>(proof: &Proof, trusted: &'a [PublicKey]) -> Result<&'a PublicKey> {
    trusted
        .iter()
        .find(|key| key.as_bytes() == proof.public_key())
        .ok_or_else(|| Error::new(ErrorCode::UntrustedKey, "the proof's key is not trusted for this subject"))
}

/// Every check but the signature: trust, audience, freshness. Returns the key to verify with.
pub fn check_policy<'a>(proof: &Proof, trusted: &'a [PublicKey], policy: &Policy) -> Result<&'a PublicKey> {
    let key = trusted_key(proof, trusted)?;
    check_envelope(proof.envelope(), policy)?;
    Ok(key)
}

/// The envelope checks every proof kind shares: audience, then freshness.
pub fn check_envelope(envelope: &Envelope, policy: &Policy) -> Result<()> {
    if envelope.audience() != policy.audience {
        return Err(Error::new(ErrorCode::AudienceMismatch, "the proof is addressed to another audience"));
    }
    let timestamp = envelope.timestamp_ms();
    if timestamp > policy.now_ms.saturating_add(policy.max_skew_ms) {
        return Err(Error::new(ErrorCode::TimestampInFuture, "timestamp is beyond the allowed clock skew"));
    }
    if policy.now_ms > timestamp.saturating_add(policy.max_age_ms) {
        return Err(Error::new(ErrorCode::ProofExpired, "timestamp is older than the maximum age"));
    }
    Ok(())
}

/// Verifies an Ed25519 proof completely (except nonce uniqueness).
pub fn verify(proof: &Proof, trusted: &[PublicKey], policy: &Policy) -> Result<()> {
    let key = check_policy(proof, trusted, policy)?;
    ed25519::verify(key, proof.envelope().signed_digest(), proof.signature())
}

/// Verifies a proof of either kind completely (except nonce uniqueness).
///
/// A WebAuthn proof needs `relying_party`: a verifier without one does not
/// accept the algorithm (`unsupported_algorithm`, section 10.3 step 5).
pub fn verify_with(
    proof: &AnyProof,
    trusted: Trusted<'_>,
    policy: &Policy,
    relying_party: Option<&RelyingParty>,
) -> Result<Verified> {
    match proof {
        AnyProof::Ed25519(proof) => verify(proof, trusted.keys, policy).map(|()| Verified::Ed25519),
        AnyProof::WebAuthn(proof) => {
            let relying_party = relying_party.ok_or_else(|| {
                Error::new(ErrorCode::UnsupportedAlgorithm, "WebAuthn proofs need a relying party configuration")
            })?;
            webauthn::verify_proof(proof, trusted.credentials, policy, relying_party).map(Verified::WebAuthn)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::ed25519::SigningKey;
    use crate::json::Object;
    use crate::proof::MAX_TIMESTAMP_MS;
    use crate::webauthn::Assertion;

    const AUDIENCE: &str = "payments-api";
    const NONCE: &str = "AAECAwQFBgcICQoLDA0ODw";
    const T: u64 = 1_764_331_200_000;

    fn envelope_at(timestamp_ms: u64) -> Envelope {
        Envelope::new(Object::new(), AUDIENCE.into(), timestamp_ms, NONCE).unwrap()
    }

    fn policy(now_ms: u64, max_age_ms: u64, max_skew_ms: u64) -> Policy {
        Policy { audience: AUDIENCE.into(), now_ms, max_age_ms, max_skew_ms }
    }

    /// The code of `check_envelope`, or None when it accepts.
    fn code(timestamp_ms: u64, policy: &Policy) -> Option<ErrorCode> {
        check_envelope(&envelope_at(timestamp_ms), policy).err().map(|e| e.code())
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed(&[seed; 32])
    }

    #[test]
    fn policy_new_uses_the_defaults() {
        let policy = Policy::new(AUDIENCE, T);
        assert_eq!(policy, Policy { audience: AUDIENCE.into(), now_ms: T, max_age_ms: 300_000, max_skew_ms: 30_000 });
    }

    #[test]
    fn timestamp_exactly_at_now_plus_skew_is_accepted_one_more_is_in_the_future() {
        let p = policy(T, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS);
        assert_eq!(code(T + DEFAULT_MAX_SKEW_MS, &p), None);
        assert_eq!(code(T + DEFAULT_MAX_SKEW_MS + 1, &p), Some(ErrorCode::TimestampInFuture));
        // No skew at all: the verifier's own millisecond is the last accepted one.
        let strict = policy(T, DEFAULT_MAX_AGE_MS, 0);
        assert_eq!(code(T, &strict), None);
        assert_eq!(code(T + 1, &strict), Some(ErrorCode::TimestampInFuture));
    }

    #[test]
    fn now_exactly_at_timestamp_plus_max_age_is_accepted_one_more_is_expired() {
        let at = policy(T + DEFAULT_MAX_AGE_MS, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS);
        assert_eq!(code(T, &at), None);
        let after = policy(T + DEFAULT_MAX_AGE_MS + 1, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS);
        assert_eq!(code(T, &after), Some(ErrorCode::ProofExpired));
        // Max age 0: only the signing millisecond itself.
        assert_eq!(code(T, &policy(T, 0, 0)), None);
        assert_eq!(code(T, &policy(T + 1, 0, 0)), Some(ErrorCode::ProofExpired));
    }

    #[test]
    fn freshness_saturates_at_u64_max() {
        // now + skew and timestamp + max_age saturate instead of wrapping (or
        // panicking): huge limits mean "no limit", not a wrapped small one.
        let unlimited = policy(u64::MAX, u64::MAX, u64::MAX);
        assert_eq!(code(0, &unlimited), None);
        assert_eq!(code(MAX_TIMESTAMP_MS, &unlimited), None);
        // timestamp + max_age saturates to exactly u64::MAX = now: the boundary, accepted.
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(u64::MAX, u64::MAX, 0)), None);
        // timestamp + max_age == u64::MAX without saturating: still the boundary.
        let exact = u64::MAX - MAX_TIMESTAMP_MS;
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(u64::MAX, exact, 0)), None);
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(u64::MAX, exact - 1, 0)), Some(ErrorCode::ProofExpired));
        // now + skew saturates: a timestamp is never beyond u64::MAX.
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(1, u64::MAX, u64::MAX)), None);
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(u64::MAX - 1, u64::MAX, 2)), None);
    }

    #[test]
    fn freshness_at_the_largest_timestamp() {
        // 2^53 - 1 is the largest timestamp an envelope admits.
        assert!(Envelope::new(Object::new(), AUDIENCE.into(), MAX_TIMESTAMP_MS + 1, NONCE).is_err());
        let skew = 1_000;
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(MAX_TIMESTAMP_MS - skew, 0, skew)), None);
        assert_eq!(
            code(MAX_TIMESTAMP_MS, &policy(MAX_TIMESTAMP_MS - skew - 1, u64::MAX, skew)),
            Some(ErrorCode::TimestampInFuture)
        );
        // From now = 0, a skew of exactly 2^53 - 1 reaches the largest timestamp.
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(0, 0, MAX_TIMESTAMP_MS)), None);
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(0, 0, MAX_TIMESTAMP_MS - 1)), Some(ErrorCode::TimestampInFuture));
        // And the age boundary just above it.
        let age = 1_000;
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(MAX_TIMESTAMP_MS + age, age, 0)), None);
        assert_eq!(code(MAX_TIMESTAMP_MS, &policy(MAX_TIMESTAMP_MS + age + 1, age, 0)), Some(ErrorCode::ProofExpired));
    }

    #[test]
    fn audience_must_match_exactly_and_is_checked_before_freshness() {
        let fresh = policy(T, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS);
        assert_eq!(code(T, &fresh), None);
        for other in ["payments-api2", "Payments-api", "payments-ap", "", "payments-api "] {
            let p = Policy { audience: other.into(), ..fresh.clone() };
            assert_eq!(code(T, &p), Some(ErrorCode::AudienceMismatch), "{other:?}");
            // Expired and in the future, but addressed elsewhere first.
            assert_eq!(code(T - DEFAULT_MAX_AGE_MS - 1, &p), Some(ErrorCode::AudienceMismatch), "{other:?}");
            assert_eq!(code(T + DEFAULT_MAX_SKEW_MS + 1, &p), Some(ErrorCode::AudienceMismatch), "{other:?}");
        }
    }

    #[test]
    fn the_proofs_own_key_is_never_trusted() {
        let signer = key(1);
        let other = key(2).public_key();
        let proof = envelope_at(T).sign(&signer);
        let fresh = policy(T, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS);
        // The signature is valid under the proof's own key, yet nothing trusts it.
        assert!(ed25519::verify(&signer.public_key(), proof.envelope().signed_digest(), proof.signature()).is_ok());
        for trusted in [&[][..], &[other.clone()][..]] {
            assert_eq!(trusted_key(&proof, trusted).unwrap_err().code(), ErrorCode::UntrustedKey);
            assert_eq!(check_policy(&proof, trusted, &fresh).unwrap_err().code(), ErrorCode::UntrustedKey);
            assert_eq!(verify(&proof, trusted, &fresh).unwrap_err().code(), ErrorCode::UntrustedKey);
            let any = AnyProof::from(proof.clone());
            assert_eq!(
                verify_with(&any, Trusted::keys(trusted), &fresh, None).unwrap_err().code(),
                ErrorCode::UntrustedKey
            );
        }
        // Trust comes before the audience check.
        let elsewhere = Policy { audience: "elsewhere".into(), ..fresh.clone() };
        assert_eq!(
            verify(&proof, std::slice::from_ref(&other), &elsewhere).unwrap_err().code(),
            ErrorCode::UntrustedKey
        );
        // Among several keys, the caller's matching one is returned.
        let trusted = [other, signer.public_key()];
        let found = trusted_key(&proof, &trusted).unwrap();
        assert!(core::ptr::eq(found, &trusted[1]));
        assert_eq!(verify(&proof, &trusted, &fresh), Ok(()));
        assert_eq!(verify_with(&proof.into(), Trusted::keys(&trusted), &fresh, None), Ok(Verified::Ed25519));
    }

    #[test]
    fn a_bad_signature_is_checked_last() {
        let signer = key(1);
        let proof = envelope_at(T).sign(&signer);
        let mut signature = *proof.signature();
        signature[0] ^= 1;
        let forged = proof.envelope().clone().into_proof(*proof.public_key(), signature);
        let trusted = [signer.public_key()];
        let fresh = policy(T, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS);
        assert_eq!(verify(&forged, &trusted, &fresh).unwrap_err().code(), ErrorCode::BadSignature);
        let late = policy(T + DEFAULT_MAX_AGE_MS + 1, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS);
        assert_eq!(verify(&forged, &trusted, &late).unwrap_err().code(), ErrorCode::ProofExpired);
    }

    fn webauthn_proof() -> AnyProof {
        let envelope = envelope_at(T);
        let challenge = webauthn::challenge(&envelope);
        let client_data =
            format!(r#"{{"type":"webauthn.get","challenge":"{challenge}","origin":"https://bank.example"}}"#);
        // rpIdHash, flags UP|UV, signCount 1.
        let mut authenticator_data = vec![0u8; 32];
        authenticator_data.extend_from_slice(&[0x05, 0, 0, 0, 1]);
        let assertion =
            Assertion::new(vec![7; 16], &authenticator_data, client_data.into_bytes(), vec![1; 64], None).unwrap();
        envelope.into_webauthn_proof(assertion).into()
    }

    #[test]
    fn webauthn_proof_without_a_relying_party_is_an_unsupported_algorithm() {
        let proof = webauthn_proof();
        let fresh = policy(T, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS);
        let err = verify_with(&proof, Trusted::default(), &fresh, None).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnsupportedAlgorithm);
        // Also when the envelope would fail anyway: the relying party is asked for first.
        let elsewhere = Policy { audience: "elsewhere".into(), now_ms: u64::MAX, ..fresh.clone() };
        let err = verify_with(&proof, Trusted::default(), &elsewhere, None).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnsupportedAlgorithm);
        // With a relying party the proof gets further (and fails for lack of a credential).
        let rp = RelyingParty::new("bank.example", ["https://bank.example"]);
        let err = verify_with(&proof, Trusted::default(), &fresh, Some(&rp)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UntrustedKey);
    }

    #[test]
    fn expires_at_is_timestamp_plus_max_age_saturating() {
        let p = policy(0, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_SKEW_MS);
        let envelope = envelope_at(T);
        assert_eq!(p.expires_at(&envelope), T + DEFAULT_MAX_AGE_MS);
        let proof = envelope.clone().sign(&key(1));
        assert_eq!(p.expires_at_ms(&proof), T + DEFAULT_MAX_AGE_MS);
        assert_eq!(policy(0, 0, 0).expires_at(&envelope), T);
        assert_eq!(policy(0, u64::MAX, 0).expires_at(&envelope_at(MAX_TIMESTAMP_MS)), u64::MAX);
        assert_eq!(policy(0, u64::MAX - MAX_TIMESTAMP_MS, 0).expires_at(&envelope_at(MAX_TIMESTAMP_MS)), u64::MAX);
        // The last accepted millisecond is exactly expires_at; one later is expired.
        let at = Policy { now_ms: p.expires_at(&envelope), ..p.clone() };
        assert_eq!(check_envelope(&envelope, &at), Ok(()));
        let after = Policy { now_ms: p.expires_at(&envelope) + 1, ..p };
        assert_eq!(check_envelope(&envelope, &after).unwrap_err().code(), ErrorCode::ProofExpired);
    }
}

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

//! The relay's decision on one proof, and how it is made from the core's verdict.
//!
//! The core decides whether a proof is valid (signature, key, audience,
//! freshness). The relay adds what needs its stores: a proof the core
//! accepted is still refused when its nonce was seen before, its challenge
//! does not match, or its WebAuthn counter lost a race ([`Refusal`]), and a
//! proof is not verified at all when its subject is over its rate limit. A
//! [`Decision`] records the outcome with everything the three records need
//! (audit entry, decision line, verdict: see `audit_entry`, `decision_line`,
//! `verdict`) and never a secret: no signature, no credential.
use std::sync::Arc;

use proof_messenger_core::proof::AnyProof;
use proof_messenger_core::Error;

use crate::errors::RecordError;

/// The API client a proof was verified for: the relay records its id and
/// requires its audience.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The client's id (`cli_...`, or `embedded:<name>`).
    pub id: String,
    /// The audience every proof of this client must be addressed to.
    pub audience: String,
}

/// Why the relay refuses a proof the core accepted, or does not verify it.
/// Each has a stable code (docs/RELAY.md, "Error codes") and one detail text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The nonce was accepted once already.
    NonceReplayed,
    /// `require_challenge` is on and the nonce was never issued.
    ChallengeUnknown,
    /// The challenge was issued for another subject or audience.
    ChallengeBindingMismatch,
    /// The challenge's own expiry passed.
    ChallengeExpired,
    /// A WebAuthn signature counter that is not above the stored one.
    CounterNotIncreasing,
    /// The subject is over its rate limit (the proof was not verified).
    RateLimited,
}

impl Refusal {
    /// Every refusal, in documentation order.
    pub const ALL: [Refusal; 6] = [
        Refusal::NonceReplayed,
        Refusal::ChallengeUnknown,
        Refusal::ChallengeBindingMismatch,
        Refusal::ChallengeExpired,
        Refusal::CounterNotIncreasing,
        Refusal::RateLimited,
    ];

    /// The stable code.
    pub const fn code(self) -> &'static str {
        match self {
            Refusal::NonceReplayed => "nonce_replayed",
            Refusal::ChallengeUnknown => "challenge_unknown",
            Refusal::ChallengeBindingMismatch => "challenge_binding_mismatch",
            Refusal::ChallengeExpired => "challenge_expired",
            Refusal::CounterNotIncreasing => "counter_not_increasing",
            Refusal::RateLimited => "rate_limited",
        }
    }

    /// The detail every verdict with this code carries.
    pub const fn detail(self) -> &'static str {
        match self {
            Refusal::NonceReplayed => "this nonce was already accepted once",
            Refusal::ChallengeUnknown => "the nonce is not a challenge issued by this relay",
            Refusal::ChallengeBindingMismatch => "the challenge was issued for another subject or audience",
            Refusal::ChallengeExpired => "the challenge has expired",
            Refusal::CounterNotIncreasing => {
                "the authenticator's signature counter did not increase (cloned authenticator or replay)"
            }
            Refusal::RateLimited => "too many proofs for this subject",
        }
    }

    /// The refusal with this code.
    pub fn from_code(code: &str) -> Result<Refusal, RecordError> {
        Refusal::ALL.into_iter().find(|r| r.code() == code).ok_or_else(|| RecordError::UnknownRefusal(code.into()))
    }
}

/// The verified context of an accepted proof, as its RFC 8785 canonical
/// JSON (the bytes whose SHA-256 the key signed).
#[derive(Clone, Debug)]
pub enum Context {
    /// Read from the verified proof (no copy).
    Proof(Arc<AnyProof>),
    /// Given as canonical JSON.
    Canonical(Vec<u8>),
}

impl Context {
    /// The canonical JSON.
    pub fn canonical(&self) -> &[u8] {
        match self {
            Context::Proof(proof) => proof.envelope().canonical_context(),
            Context::Canonical(json) => json,
        }
    }
}

/// The audit log's receipt for a decision (docs/AUDIT_LOG.md, "Receipts").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Receipt {
    /// `rcpt_<log id>_<index>`.
    pub receipt_id: String,
    /// The log's origin (the first line of its checkpoints).
    pub origin: String,
    /// The entry's index in the log.
    pub index: u64,
    /// SHA-256(0x00 || entry).
    pub leaf_hash: Vec<u8>,
    /// The entry's exact bytes.
    pub entry: Vec<u8>,
    /// A signed checkpoint covering the entry (full receipts, once durable).
    pub checkpoint: Option<String>,
    /// The audit path from the entry to the checkpoint's root (optional).
    pub inclusion_proof: Option<Vec<Vec<u8>>>,
}

/// The relay's verdict on one proof.
#[derive(Clone, Debug, Default)]
pub struct Decision {
    /// Accepted: every check of the core and of the relay passed, and the nonce was consumed now.
    pub valid: bool,
    /// The reason code when not valid.
    pub code: Option<String>,
    /// A human-readable reason when not valid.
    pub detail: Option<String>,
    /// The audience the relay required (the client's).
    pub audience: String,
    /// When the relay decided, Unix ms.
    pub decided_at_ms: i64,
    /// The API client that asked.
    pub client_id: Option<String>,
    /// `context.subject`, when the proof parsed.
    pub subject: Option<String>,
    /// The key id: the Ed25519 key's RFC 7638 thumbprint, or the WebAuthn credential id.
    pub key_id: Option<String>,
    /// The registry entry that vouched for the key (accepted Ed25519 proofs).
    pub enrollment_id: Option<String>,
    /// The proof's nonce.
    pub nonce: Option<String>,
    /// The proof's timestamp, Unix ms.
    pub timestamp_ms: Option<i64>,
    /// The verified context (accepted proofs only).
    pub context: Option<Context>,
    /// SHA-256 of the canonical context.
    pub context_digest: Option<Vec<u8>>,
    /// SHA-256 of the signed payload (ties a receipt to exact bytes).
    pub signed_digest: Option<Vec<u8>>,
    /// "Ed25519" or "WebAuthn", when the proof parsed.
    pub algorithm: Option<String>,
    /// The audit log's receipt, once the decision is logged.
    pub receipt: Option<Receipt>,
}

impl Decision {
    /// The decision on a proof the core verified: `verdict` is the core's, and
    /// `refusal` what the relay's stores said of a proof the core accepted
    /// (ignored for a rejected one, whose code is the core's). For a proof the
    /// core accepted, `enrollment(subject, key_id)` names the registry entry of
    /// its key (asked only then, with the key id computed once).
    pub fn verified<E>(
        proof: &Arc<AnyProof>,
        verdict: Result<(), &Error>,
        refusal: Option<Refusal>,
        owner: &Owner,
        now_ms: i64,
        enrollment: impl FnOnce(Option<&str>, &str) -> Result<Option<String>, E>,
    ) -> Result<Decision, E> {
        let mut d = Decision::with_proof(proof, owner, now_ms);
        match verdict {
            Ok(()) => {
                let key_id = d.key_id.as_deref().unwrap_or_default();
                d.enrollment_id = enrollment(d.subject.as_deref(), key_id)?;
                match refusal {
                    None => {
                        d.valid = true;
                        d.context = Some(Context::Proof(Arc::clone(proof)));
                    }
                    Some(refusal) => {
                        d.code = Some(refusal.code().to_owned());
                        d.detail = Some(refusal.detail().to_owned());
                    }
                }
            }
            Err(e) => {
                d.code = Some(e.code().as_str().to_owned());
                d.detail = Some(e.detail().to_owned());
            }
        }
        Ok(d)
    }

    /// The decision on a proof the relay did not verify: it did not parse
    /// (`proof` is None, `error` the core's), or its subject is over its
    /// rate limit (`proof` is given).
    pub fn unverified(proof: Option<&AnyProof>, code: &str, detail: &str, owner: &Owner, now_ms: i64) -> Decision {
        let mut d = match proof {
            Some(p) => Decision::with_proof(p, owner, now_ms),
            None => Decision {
                audience: owner.audience.clone(),
                decided_at_ms: now_ms,
                client_id: Some(owner.id.clone()),
                ..Decision::default()
            },
        };
        d.code = Some(code.to_owned());
        d.detail = Some(detail.to_owned());
        d
    }

    fn with_proof(proof: &AnyProof, owner: &Owner, now_ms: i64) -> Decision {
        let e = proof.envelope();
        Decision {
            valid: false,
            code: None,
            detail: None,
            audience: owner.audience.clone(),
            decided_at_ms: now_ms,
            client_id: Some(owner.id.clone()),
            subject: e.subject().map(str::to_owned),
            key_id: Some(proof.key_id()),
            enrollment_id: None,
            nonce: Some(e.nonce().to_owned()),
            // The core bounds timestamps to 2^53 - 1: always an i64.
            timestamp_ms: i64::try_from(e.timestamp_ms()).ok(),
            context: None,
            context_digest: Some(e.context_digest().to_vec()),
            signed_digest: Some(e.signed_digest().to_vec()),
            algorithm: Some(e.algorithm().as_str().to_owned()),
            receipt: None,
        }
    }

    /// The receipt id, once logged.
    pub fn receipt_id(&self) -> Option<&str> {
        self.receipt.as_ref().map(|r| r.receipt_id.as_str())
    }

    /// The verified context's canonical JSON (accepted proofs only).
    pub fn context_json(&self) -> Option<&[u8]> {
        self.context.as_ref().map(Context::canonical)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use proof_messenger_core::ed25519::SigningKey;
    use proof_messenger_core::json::{parse, Limits, Value};
    use proof_messenger_core::proof::Envelope;
    use proof_messenger_core::ErrorCode;

    fn proof() -> Arc<AnyProof> {
        let Value::Object(context) =
            parse(br#"{"to":"ACME","amount":"10.00","subject":"alice"}"#, &Limits::default()).unwrap()
        else {
            unreachable!()
        };
        let envelope = Envelope::new(context, "bank".into(), 1_000, "AAECAwQFBgcICQoLDA0ODw").unwrap();
        Arc::new(AnyProof::Ed25519(envelope.sign(&SigningKey::from_seed(&[7; 32]))))
    }

    fn owner() -> Owner {
        Owner { id: "cli_1".into(), audience: "bank".into() }
    }

    /// The registry: alice's key of `proof()` is enrollment key_1.
    fn enrolled(subject: Option<&str>, key_id: &str) -> Result<Option<String>, ()> {
        Ok((subject == Some("alice") && key_id == proof().key_id()).then(|| "key_1".to_owned()))
    }

    #[test]
    fn accepted_proof_carries_its_canonical_context_and_enrollment() {
        let p = proof();
        let d = Decision::verified(&p, Ok(()), None, &owner(), 5, enrolled).unwrap();
        assert!(d.valid && d.code.is_none() && d.detail.is_none());
        assert_eq!(d.context_json(), Some(&br#"{"amount":"10.00","subject":"alice","to":"ACME"}"#[..]));
        assert_eq!(d.enrollment_id.as_deref(), Some("key_1"));
        assert_eq!((d.subject.as_deref(), d.nonce.as_deref()), (Some("alice"), Some("AAECAwQFBgcICQoLDA0ODw")));
        assert_eq!((d.timestamp_ms, d.decided_at_ms, d.client_id.as_deref()), (Some(1_000), 5, Some("cli_1")));
        assert_eq!(d.algorithm.as_deref(), Some("Ed25519"));
        assert_eq!(d.context_digest.as_deref(), Some(&p.envelope().context_digest()[..]));
        assert_eq!(d.signed_digest.as_deref(), Some(&p.envelope().signed_digest()[..]));
    }

    #[test]
    fn a_refusal_overrides_the_core_acceptance_and_keeps_the_enrollment() {
        let d = Decision::verified(&proof(), Ok(()), Some(Refusal::NonceReplayed), &owner(), 5, enrolled).unwrap();
        assert!(!d.valid);
        assert_eq!(d.code.as_deref(), Some("nonce_replayed"));
        assert_eq!(d.detail.as_deref(), Some("this nonce was already accepted once"));
        assert_eq!(d.enrollment_id.as_deref(), Some("key_1"));
        assert!(d.context.is_none(), "no context for a refused proof");
    }

    #[test]
    fn a_rejected_proof_keeps_the_core_code_whatever_the_stores_said() {
        let e = Error::new(ErrorCode::BadSignature, "no");
        let d =
            Decision::verified(&proof(), Err(&e), Some(Refusal::NonceReplayed), &owner(), 5, |_, _| -> Result<_, ()> {
                panic!("a rejected proof's enrollment is never asked for")
            })
            .unwrap();
        assert_eq!((d.valid, d.code.as_deref(), d.detail.as_deref()), (false, Some("bad_signature"), Some("no")));
        assert!(d.enrollment_id.is_none() && d.context.is_none());
        assert_eq!(d.key_id, Some(proof().key_id()));
    }

    #[test]
    fn unverified_decisions() {
        let d = Decision::unverified(None, "invalid_json", "at byte 3", &owner(), 9);
        assert_eq!((d.decided_at_ms, d.client_id.as_deref(), d.valid), (9, Some("cli_1"), false));
        assert_eq!(
            (d.code.as_deref(), d.detail.as_deref(), d.audience.as_str()),
            (Some("invalid_json"), Some("at byte 3"), "bank")
        );
        assert!(d.subject.is_none() && d.key_id.is_none() && d.nonce.is_none() && d.algorithm.is_none());
        let p = proof();
        let d = Decision::unverified(Some(&p), Refusal::RateLimited.code(), Refusal::RateLimited.detail(), &owner(), 9);
        assert_eq!(d.subject.as_deref(), Some("alice"));
        assert_eq!(d.code.as_deref(), Some("rate_limited"));
        assert!(!d.valid && d.context.is_none());
    }

    #[test]
    fn refusal_codes_round_trip_and_unknown_codes_are_refused() {
        for r in Refusal::ALL {
            assert_eq!(Refusal::from_code(r.code()), Ok(r));
            assert!(!r.detail().is_empty());
        }
        assert_eq!(Refusal::from_code("bad_signature"), Err(RecordError::UnknownRefusal("bad_signature".into())));
    }
}

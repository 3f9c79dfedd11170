//! Nonce claims: what an accepted proof records so that its nonce is never accepted again.
//!
//! A claim is scoped per subject (one user cannot burn another user's
//! pending nonce), carries the client's audience (a challenge is bound to a
//! subject and an audience) and lasts until the proof can no longer pass the
//! freshness check anyway: its timestamp + max age + max skew. Stores key a
//! claim by [`claim_key`]: 16 bytes of SHA-256(SHA-256(subject) || nonce).
use proof_messenger_core::proof::AnyProof;
use sha2::{Digest as _, Sha256};

use crate::errors::RecordError;

/// Bytes in a claim key.
pub const KEY_BYTES: usize = 16;

/// A claim key.
pub type ClaimKey = [u8; KEY_BYTES];

/// One accepted proof's claim on its nonce.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Claim {
    /// The proof's subject.
    pub subject: String,
    /// The audience of the client that submitted it.
    pub audience: String,
    /// The proof's nonce (base64url text: the form a challenge was issued in).
    pub nonce: String,
    /// Keep the claim until then, Unix ms.
    pub expires_at_ms: i64,
}

impl Claim {
    /// The claim of an accepted proof: kept until the proof expires (`expires_at_ms`,
    /// its timestamp + max age; `now_ms` if that is unknown or 0) plus `skew_ms`.
    pub fn of(
        proof: &AnyProof,
        audience: &str,
        expires_at_ms: Option<u64>,
        now_ms: i64,
        skew_ms: i64,
    ) -> Result<Claim, RecordError> {
        let subject = proof
            .envelope()
            .subject()
            .ok_or_else(|| RecordError::Invalid("an accepted proof names a subject".into()))?;
        let expiry = match expires_at_ms.filter(|&e| e != 0) {
            None => now_ms,
            Some(e) => i64::try_from(e).map_err(|_| RecordError::Invalid("expiry out of range".into()))?,
        };
        Ok(Claim {
            subject: subject.to_owned(),
            audience: audience.to_owned(),
            nonce: proof.envelope().nonce().to_owned(),
            expires_at_ms: expiry.saturating_add(skew_ms),
        })
    }
}

/// SHA-256(subject): the claim's scope.
pub fn scope(subject: &str) -> [u8; 32] {
    Sha256::digest(subject.as_bytes()).into()
}

/// The claim key of `nonce` in the scope `scope` (SHA-256 of the subject).
/// 128 bits: a collision (two claims taken for one, so a fresh proof is
/// refused as a replay) needs about 2^64 claims.
pub fn claim_key(scope: &[u8; 32], nonce: &str) -> ClaimKey {
    let digest = Sha256::new().chain_update(scope).chain_update(nonce.as_bytes()).finalize();
    let mut key = [0u8; KEY_BYTES];
    key.copy_from_slice(digest.get(..KEY_BYTES).unwrap_or(&[0; KEY_BYTES]));
    key
}

/// The keys of `claims`, concatenated (a subject's scope is hashed once per run of it).
pub fn claim_keys(claims: &[&Claim]) -> Vec<u8> {
    let mut out = Vec::with_capacity(claims.len() * KEY_BYTES);
    let mut last: Option<(&str, [u8; 32])> = None;
    for c in claims {
        let digest = match last {
            Some((subject, digest)) if subject == c.subject => digest,
            _ => {
                let digest = scope(&c.subject);
                last = Some((&c.subject, digest));
                digest
            }
        };
        out.extend_from_slice(&claim_key(&digest, &c.nonce));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn claim_key_is_truncated_sha256_of_scope_and_nonce() {
        // SHA-256("alice") = 2bd806c9...; the key: SHA-256 of that digest || "bm9uY2U", first 16 bytes.
        let s = scope("alice");
        assert_eq!(hex(&s), "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90");
        let mut input = s.to_vec();
        input.extend_from_slice(b"bm9uY2U");
        let full: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(claim_key(&s, "bm9uY2U"), full[..16]);
    }

    fn proof(subject: Option<&str>) -> AnyProof {
        use proof_messenger_core::ed25519::SigningKey;
        use proof_messenger_core::json::{parse, Limits, Value};
        use proof_messenger_core::proof::Envelope;
        let text = match subject {
            Some(s) => format!(r#"{{"subject":"{s}"}}"#),
            None => "{}".to_owned(),
        };
        let Value::Object(context) = parse(text.as_bytes(), &Limits::default()).unwrap() else { unreachable!() };
        let envelope = Envelope::new(context, "bank".into(), 1_000, "AAECAwQFBgcICQoLDA0ODw").unwrap();
        AnyProof::Ed25519(envelope.sign(&SigningKey::from_seed(&[7; 32])))
    }

    #[test]
    fn a_claim_lasts_until_the_proof_expires_plus_the_skew() {
        let p = proof(Some("alice"));
        let c = Claim::of(&p, "bank", Some(301_000), 5_000, 30_000).unwrap();
        assert_eq!(
            c,
            Claim {
                subject: "alice".into(),
                audience: "bank".into(),
                nonce: "AAECAwQFBgcICQoLDA0ODw".into(),
                expires_at_ms: 331_000
            }
        );
        // no expiry (or 0): from now
        assert_eq!(Claim::of(&p, "bank", None, 5_000, 30_000).unwrap().expires_at_ms, 35_000);
        assert_eq!(Claim::of(&p, "bank", Some(0), 5_000, 30_000).unwrap().expires_at_ms, 35_000);
        assert_eq!(Claim::of(&p, "bank", Some(1), 5_000, 0).unwrap().expires_at_ms, 1);
        assert_eq!(
            Claim::of(&p, "bank", Some(u64::MAX), 5_000, 0),
            Err(RecordError::Invalid("expiry out of range".into()))
        );
        assert_eq!(Claim::of(&p, "bank", Some(1), 0, i64::MAX).unwrap().expires_at_ms, i64::MAX, "saturates");
        assert!(Claim::of(&proof(None), "bank", Some(1), 0, 0).is_err(), "an accepted proof names a subject");
    }

    #[test]
    fn claim_keys_equal_one_by_one_keys_across_subject_runs() {
        let c = |s: &str, n: &str| Claim { subject: s.into(), audience: "a".into(), nonce: n.into(), expires_at_ms: 0 };
        let claims = [c("alice", "n1"), c("alice", "n2"), c("bob", "n1"), c("alice", "n1")];
        let refs: Vec<&Claim> = claims.iter().collect();
        let keys = claim_keys(&refs);
        assert_eq!(keys.len(), 4 * KEY_BYTES);
        for (i, claim) in claims.iter().enumerate() {
            assert_eq!(keys[i * KEY_BYTES..(i + 1) * KEY_BYTES], claim_key(&scope(&claim.subject), &claim.nonce));
        }
        assert_eq!(keys[..16], keys[48..], "same subject and nonce: same key");
        assert_ne!(keys[..16], keys[32..48], "another subject: another key");
    }
}

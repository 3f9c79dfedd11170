//! Context digests, the v1 signing payload and the human fingerprint.
//!
//! The signature covers more than the context: a proof is only safe against
//! replay and cross-service reuse if its audience, timestamp and nonce are
//! signed too. The payload frames every member with its length, so no two
//! different envelopes share a payload, and starts with a domain separation
//! tag so the bytes can never be mistaken for another protocol's message.

use sha2::{Digest, Sha256};

/// Domain separation tag that starts every v1 signing payload (includes the trailing NUL).
pub const PAYLOAD_DST: &[u8] = b"proof-messenger/v1/signing-payload\0";

/// SHA-256 of the RFC 8785 canonical form of a context.
pub fn context_digest(canonical_context: &[u8]) -> [u8; 32] {
    Sha256::digest(canonical_context).into()
}

/// The exact v1 signing payload (docs/PROTOCOL.md, "Signed bytes").
///
/// `DST || field(algorithm) || field(audience) || u64be(timestamp_ms) ||
/// field(nonce) || context_digest`, where `field(x) = u16be(len(x)) || x`.
/// Callers guarantee the lengths fit (the envelope checks them).
pub fn signing_payload(
    algorithm: &str,
    audience: &str,
    timestamp_ms: u64,
    nonce: &[u8],
    context_digest: &[u8; 32],
) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(PAYLOAD_DST.len() + 2 * 3 + algorithm.len() + audience.len() + 8 + nonce.len() + 32);
    out.extend_from_slice(PAYLOAD_DST);
    push_field(&mut out, algorithm.as_bytes());
    push_field(&mut out, audience.as_bytes());
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    push_field(&mut out, nonce);
    out.extend_from_slice(context_digest);
    out
}

fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    // Envelope validation bounds every field far below u16::MAX.
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// SHA-256 of the signing payload: the 32 bytes the key signs (and, for
/// WebAuthn, the challenge).
pub fn signed_digest(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}

/// Crockford base32 alphabet: no I, L, O, U, so people do not confuse characters.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A short code people compare on two screens: the first 80 bits of the
/// context digest in Crockford base32, as four groups of four (`7KQ2-M9XD-4HCT-PW3B`).
///
/// 80 bits leave a second-preimage search at 2^80 work, far beyond what an
/// attacker can do between display and approval.
pub fn fingerprint(context_digest: &[u8; 32]) -> String {
    let mut bits: u128 = 0;
    for byte in &context_digest[..10] {
        bits = (bits << 8) | u128::from(*byte);
    }
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let index = ((bits >> (75 - 5 * i)) & 0x1f) as usize;
        // index < 32 by the mask, so the fallback is never taken.
        out.push(CROCKFORD.get(index).copied().map_or('?', char::from));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn payload_layout() {
        let digest = [0xabu8; 32];
        let payload = signing_payload("Ed25519", "aud", 0x0102, &[9, 9], &digest);
        let mut expected = PAYLOAD_DST.to_vec();
        expected.extend_from_slice(&[0, 7]);
        expected.extend_from_slice(b"Ed25519");
        expected.extend_from_slice(&[0, 3]);
        expected.extend_from_slice(b"aud");
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        expected.extend_from_slice(&[0, 2, 9, 9]);
        expected.extend_from_slice(&digest);
        assert_eq!(payload, expected);
    }

    #[test]
    fn fingerprint_shape() {
        assert_eq!(fingerprint(&[0u8; 32]), "0000-0000-0000-0000");
        assert_eq!(fingerprint(&[0xffu8; 32]), "ZZZZ-ZZZZ-ZZZZ-ZZZZ");
        let mut d = [0u8; 32];
        d[9] = 1; // lowest of the 80 bits
        assert_eq!(fingerprint(&d), "0000-0000-0000-0001");
    }
}

//! Strict Ed25519 (RFC 8032) with one verification rule for single and batch.
//!
//! Why not `ed25519_dalek::VerifyingKey::verify_strict` for single proofs and
//! `ed25519_dalek::verify_batch` for batches: the first checks the
//! cofactorless equation `[S]B = R + [k]A`, the second a random linear
//! combination of it, and the two disagree on inputs whose `R` or `A` carry a
//! small torsion component (the batch can accept what the single check
//! rejects, with probability 1/8 or 1/2 depending on how the bad items pair
//! up; see Chalkias, Garillot, Nikolaenko, "Taming the many EdDSAs", 2020).
//! No choice of random coefficients closes that gap, because the torsion
//! subgroup has only 8 elements. The only rule on which single and batch
//! verification provably agree is the cofactored group equation that RFC 8032
//! section 5.1.7 states first:
//!
//! ```text
//!     [8][S]B = [8]R + [8][k]A,   k = SHA-512(R || A || M) mod L
//! ```
//!
//! On top of it we keep every rejection `verify_strict` makes: `S` must be
//! canonical (`S < L`), `A` and `R` must be canonical encodings (`y < p`) of
//! points that are not of small order. Honest signatures satisfy both
//! equations, and the Wycheproof and RFC 8032 vectors give identical verdicts
//! under both (tests/vectors; `tests/ed25519_vectors.rs` checks every Wycheproof case against
//! `verify_strict`). Curve arithmetic is
//! curve25519-dalek's; signing is ed25519-dalek's.

use core::fmt;
use core::hash::{Hash, Hasher};

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::Signer;
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

use crate::encoding::encode_base64url;
use crate::errors::{Error, ErrorCode, Result};

/// Length of a raw Ed25519 public key.
pub const PUBLIC_KEY_LENGTH: usize = 32;
/// Length of an Ed25519 signature (`R || S`).
pub const SIGNATURE_LENGTH: usize = 64;
/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the key follows.
pub const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
/// DER prefix of an unencrypted Ed25519 PKCS#8 v1 private key (RFC 8410): the seed follows.
pub const PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// Whether 32 bytes are a canonical point encoding in the sense of RFC 8032
/// section 5.1.3: `y < p`, and the sign bit is clear when `x = 0`.
///
/// `p = 2^255 - 19`, so the only non-canonical y values are `p..2^255`: low
/// byte >= 0xed, all middle bytes 0xff, top byte 0x7f (ignoring the sign bit).
/// The points with `x = 0` are `y = 1` and `y = p - 1`; their encodings with
/// the sign bit set are second spellings that decoding must refuse.
fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    let (first, rest) = (bytes[0], &bytes[1..31]);
    let y_at_least_p = first >= 0xed && rest.iter().all(|b| *b == 0xff) && bytes[31] & 0x7f == 0x7f;
    let mut negative_zero_x = [0u8; 32];
    negative_zero_x[0] = 0x01;
    negative_zero_x[31] = 0x80;
    let identity_with_sign = *bytes == negative_zero_x;
    let mut minus_one = [0xffu8; 32];
    minus_one[0] = 0xec;
    let minus_one_with_sign = *bytes == minus_one;
    !(y_at_least_p || identity_with_sign || minus_one_with_sign)
}

/// Decodes a canonical encoding of a point that is not of small order.
fn decode_point(bytes: &[u8; 32]) -> Option<(EdwardsPoint, bool)> {
    if !is_canonical_encoding(bytes) {
        return None;
    }
    let point = CompressedEdwardsY(*bytes).decompress()?;
    Some((point, point.is_small_order()))
}

/// A validated Ed25519 public key: canonical, on the curve, not of small order.
///
/// Validation happens once, when the key is constructed (at enrolment or when
/// a caller names it as trusted); verification then reuses the decoded point.
#[derive(Clone)]
pub struct PublicKey {
    bytes: [u8; 32],
    minus_point: EdwardsPoint,
}

impl PublicKey {
    /// Validates a raw 32-byte key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey> {
        match decode_point(bytes) {
            None => Err(Error::new(ErrorCode::InvalidPublicKey, "not a canonical Ed25519 point")),
            Some((_, true)) => Err(Error::new(ErrorCode::WeakPublicKey, "public key has small order")),
            Some((point, false)) => Ok(PublicKey { bytes: *bytes, minus_point: -point }),
        }
    }

    /// Validates a key given either raw (32 bytes) or as SPKI DER (44 bytes).
    pub fn from_raw_or_spki(bytes: &[u8]) -> Result<PublicKey> {
        PublicKey::from_bytes(&raw_key_bytes(bytes)?)
    }

    /// The raw 32-byte encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The RFC 8410 SubjectPublicKeyInfo DER encoding.
    pub fn to_spki_der(&self) -> [u8; 44] {
        let mut der = [0u8; 44];
        der[..12].copy_from_slice(&SPKI_PREFIX);
        der[12..].copy_from_slice(&self.bytes);
        der
    }

    /// The key id: the RFC 7638 JWK thumbprint, base64url without padding.
    pub fn key_id(&self) -> String {
        key_id(&self.bytes)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

/// Extracts the 32 key bytes from a raw key or an Ed25519 SPKI DER structure.
///
/// This only checks the encoding's shape, not the point: see [`PublicKey`].
pub fn raw_key_bytes(bytes: &[u8]) -> Result<[u8; 32]> {
    let raw = match bytes.len() {
        PUBLIC_KEY_LENGTH => Some(bytes),
        44 => bytes.strip_prefix(SPKI_PREFIX.as_slice()),
        _ => None,
    };
    raw.and_then(|raw| <[u8; 32]>::try_from(raw).ok()).ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidPublicKey,
            format!("expected a 32-byte key or a 44-byte Ed25519 SPKI, got {} bytes", bytes.len()),
        )
    })
}

/// The RFC 7638 JWK thumbprint of a raw Ed25519 key.
pub fn key_id(raw: &[u8; 32]) -> String {
    // RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    let mut hasher = Sha256::new();
    hasher.update(br#"{"crv":"Ed25519","kty":"OKP","x":""#);
    hasher.update(encode_base64url(raw).as_bytes());
    hasher.update(br#""}"#);
    encode_base64url(&hasher.finalize())
}

/// An Ed25519 signature decoded for verification: canonical `S`, decoded `R`.
///
/// Preparing is the per-signature work shared by single and batch
/// verification; it rejects what the strict rules reject before any
/// multi-scalar multiplication.
pub struct PreparedSignature {
    /// The encodings as received (checked canonical), for the batch transcript:
    /// hashing them avoids re-compressing points, which costs a field inversion each.
    r_bytes: [u8; 32],
    a_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
    minus_a: EdwardsPoint,
}

impl PreparedSignature {
    /// Decodes `signature` over `message` by `key`, applying the strict rules.
    pub fn new(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> Result<PreparedSignature> {
        let mut r_bytes = [0u8; 32];
        let mut s_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&signature[..32]);
        s_bytes.copy_from_slice(&signature[32..]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))
            .ok_or_else(|| Error::new(ErrorCode::BadSignature, "S is not canonical (S >= L)"))?;
        let r = match decode_point(&r_bytes) {
            Some((r, false)) => r,
            Some((_, true)) => return Err(Error::new(ErrorCode::BadSignature, "R has small order")),
            None => return Err(Error::new(ErrorCode::BadSignature, "R is not a canonical point")),
        };
        let mut hash = [0u8; 64];
        hash.copy_from_slice(
            &Sha512::new().chain_update(r_bytes).chain_update(key.bytes).chain_update(message).finalize(),
        );
        let k = Scalar::from_bytes_mod_order_wide(&hash);
        Ok(PreparedSignature { r_bytes, a_bytes: key.bytes, r, s, k, minus_a: key.minus_point })
    }

    /// The cofactored single check `[8]([S]B - [k]A - R) = 0`.
    pub fn verify(&self) -> bool {
        let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&self.k, &self.minus_a, &self.s);
        (sb_minus_ka - self.r).mul_by_cofactor().is_identity()
    }
}

/// Verifies one signature under the strict, cofactored rule.
pub fn verify(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> Result<()> {
    if PreparedSignature::new(key, message, signature)?.verify() {
        Ok(())
    } else {
        Err(Error::new(ErrorCode::BadSignature, "signature does not verify"))
    }
}

/// Checks many prepared signatures at once: true iff (with probability
/// 1 - 2^-128 when false) every one of them passes [`PreparedSignature::verify`].
///
/// The random coefficients `z_i` are 128-bit values derived by hashing every
/// item of the batch (Fiat-Shamir), so the check is deterministic and needs
/// no RNG, and an attacker cannot choose items after seeing the coefficients.
pub fn verify_prepared_batch(items: &[&PreparedSignature]) -> bool {
    match items {
        [] => true,
        [one] => one.verify(),
        _ => {
            let mut transcript = Sha512::new();
            transcript.update(b"proof-messenger/v1/ed25519-batch\0");
            transcript.update((items.len() as u64).to_be_bytes());
            for item in items {
                transcript.update(item.r_bytes);
                transcript.update(item.a_bytes);
                transcript.update(item.k.as_bytes());
                transcript.update(item.s.as_bytes());
            }
            let seed = transcript.finalize();
            let z: Vec<Scalar> = (0..items.len() as u64)
                .map(|i| {
                    let block = Sha512::new().chain_update(seed).chain_update(i.to_be_bytes()).finalize();
                    let mut wide = [0u8; 32];
                    for (w, b) in wide.iter_mut().zip(block.iter().take(16)) {
                        *w = *b;
                    }
                    Scalar::from_bytes_mod_order(wide)
                })
                .collect();
            // sum z_i ([S_i]B - R_i - [k_i]A_i), with -A_i stored: coefficients
            // B: sum z_i S_i; R_i: -z_i; (-A_i): z_i k_i.
            let b_coefficient: Scalar = z.iter().zip(items).map(|(z, item)| z * item.s).sum();
            let scalars = core::iter::once(b_coefficient)
                .chain(z.iter().map(|z| -z))
                .chain(z.iter().zip(items).map(|(z, item)| z * item.k));
            let points = core::iter::once(curve25519_dalek::constants::ED25519_BASEPOINT_POINT)
                .chain(items.iter().map(|item| item.r))
                .chain(items.iter().map(|item| item.minus_a));
            EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
        }
    }
}

/// An Ed25519 signing key. The seed is zeroized on drop and never printed.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl SigningKey {
    /// Builds a key from its 32-byte seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        let inner = ed25519_dalek::SigningKey::from_bytes(seed);
        let bytes = inner.verifying_key().to_bytes();
        // An honestly derived key is [a]B with a clamped, non-zero multiple of 8: never small order.
        let point = inner.verifying_key().to_edwards();
        SigningKey { inner, public: PublicKey { bytes, minus_point: -point } }
    }

    /// Parses an unencrypted RFC 8410 PKCS#8 v1 DER private key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey> {
        let seed = der
            .strip_prefix(PKCS8_PREFIX.as_slice())
            .and_then(|rest| <[u8; 32]>::try_from(rest).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| Error::new(ErrorCode::InvalidField, "not an unencrypted Ed25519 PKCS#8 v1 private key"))?;
        Ok(SigningKey::from_seed(&seed))
    }

    /// The RFC 8410 PKCS#8 v1 DER encoding (contains the secret).
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let mut der = Zeroizing::new(Vec::with_capacity(48));
        der.extend_from_slice(&PKCS8_PREFIX);
        der.extend_from_slice(self.inner.as_bytes());
        der
    }

    /// The 32-byte seed (the secret).
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.inner.as_bytes())
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// Signs `message` (RFC 8032 deterministic Ed25519).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(message).to_bytes()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, secret redacted)", self.public.key_id())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn keys_are_equal_hashed_and_shown_by_their_bytes() {
        use std::collections::hash_map::DefaultHasher;
        let a = SigningKey::from_seed(&[1; 32]).public_key();
        let b = SigningKey::from_seed(&[2; 32]).public_key();
        let a2 = PublicKey::from_bytes(&a.bytes).unwrap();
        // a trusted-key list and a key index rely on these: two keys are one only if their bytes are
        assert!(a == a2 && a != b);
        let hash = |k: &PublicKey| {
            let mut h = DefaultHasher::new();
            k.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&a2));
        assert_ne!(hash(&a), hash(&b));
        // Debug names the key id, never more
        assert_eq!(format!("{a:?}"), format!("PublicKey({})", a.key_id()));
    }

    #[test]
    fn the_seed_round_trips() {
        let seed = hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        assert_eq!(*SigningKey::from_seed(&seed).to_seed(), seed);
    }

    #[test]
    fn rfc8032_test1_signs_and_verifies() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let sk = SigningKey::from_seed(&hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
        assert_eq!(
            sk.public_key().as_bytes(),
            &hex32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        );
        let sig = sk.sign(b"");
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        verify(&sk.public_key(), b"", &sig).unwrap();
        let mut bad = sig;
        bad[0] ^= 1;
        assert_eq!(verify(&sk.public_key(), b"", &bad).unwrap_err().code(), ErrorCode::BadSignature);
    }

    #[test]
    fn rejects_small_order_and_non_canonical_keys() {
        let identity = hex32("0100000000000000000000000000000000000000000000000000000000000000");
        assert_eq!(PublicKey::from_bytes(&identity).unwrap_err().code(), ErrorCode::WeakPublicKey);
        // y = p (non-canonical encoding of y = 0).
        let y_p = hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
        assert_eq!(PublicKey::from_bytes(&y_p).unwrap_err().code(), ErrorCode::InvalidPublicKey);
        assert!(is_canonical_encoding(&hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")));
        // x = 0 with the sign bit set: second spellings of the identity and of the order-2 point.
        for bad in [
            "0100000000000000000000000000000000000000000000000000000000000080",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ] {
            assert_eq!(PublicKey::from_bytes(&hex32(bad)).unwrap_err().code(), ErrorCode::InvalidPublicKey, "{bad}");
        }
    }

    #[test]
    fn non_canonical_s_is_rejected() {
        let sk = SigningKey::from_seed(&[1u8; 32]);
        let sig = sk.sign(b"m");
        // S + L is a different encoding of the same scalar: the malleability strictness forbids.
        let l = hex32("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        let mut s = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(sig[32 + i]) + u16::from(l[i]) + carry;
            s[i] = v as u8;
            carry = v >> 8;
        }
        let mut forged = sig;
        forged[32..].copy_from_slice(&s);
        assert_eq!(verify(&sk.public_key(), b"m", &forged).unwrap_err().code(), ErrorCode::BadSignature);
    }

    #[test]
    fn batch_agrees_with_single_and_detects_torsion_only_forgery() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        let keys: Vec<SigningKey> = (0..6u8).map(|i| SigningKey::from_seed(&[i + 1; 32])).collect();
        let msgs: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10]).collect();
        let sigs: Vec<[u8; 64]> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let prepared: Vec<PreparedSignature> = keys
            .iter()
            .zip(&msgs)
            .zip(&sigs)
            .map(|((k, m), s)| PreparedSignature::new(&k.public_key(), m, s).unwrap())
            .collect();
        let refs: Vec<&PreparedSignature> = prepared.iter().collect();
        assert!(verify_prepared_batch(&refs));

        // A signer who knows the secret can make R' = rB + T (T of order 2) with
        // S = r + k'a: cofactorless verification rejects it, a cofactorless batch
        // accepts it half the time. Under the cofactored rule both accept it.
        let seed = [42u8; 32];
        let sk = SigningKey::from_seed(&seed);
        let expanded = Sha512::digest(seed);
        let mut a_bytes = [0u8; 32];
        a_bytes.copy_from_slice(&expanded[..32]);
        a_bytes[0] &= 248;
        a_bytes[31] &= 127;
        a_bytes[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a_bytes);
        let r = Scalar::from_bytes_mod_order([9u8; 32]);
        let r_point = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[4];
        let r_enc = r_point.compress().to_bytes();
        let msg = b"torsion";
        let mut h = [0u8; 64];
        h.copy_from_slice(
            &Sha512::new().chain_update(r_enc).chain_update(sk.public_key().as_bytes()).chain_update(msg).finalize(),
        );
        let k = Scalar::from_bytes_mod_order_wide(&h);
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_enc);
        sig[32..].copy_from_slice(s.as_bytes());
        let single = verify(&sk.public_key(), msg, &sig).is_ok();
        let dalek_strict = ed25519_dalek::VerifyingKey::from_bytes(sk.public_key().as_bytes())
            .unwrap()
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok();
        assert!(single, "cofactored rule accepts a torsion-only discrepancy");
        assert!(!dalek_strict, "cofactorless verify_strict rejects it");
        let odd = PreparedSignature::new(&sk.public_key(), msg, &sig).unwrap();
        let mut with_odd = refs.clone();
        with_odd.push(&odd);
        with_odd.push(&odd);
        assert!(verify_prepared_batch(&with_odd), "batch agrees with single");

        // A real forgery in a batch is caught.
        let mut bad = sigs[2];
        bad[40] ^= 4;
        let bad_prep = PreparedSignature::new(&keys[2].public_key(), &msgs[2], &bad).unwrap();
        assert!(!bad_prep.verify());
        let mut with_bad = refs.clone();
        with_bad.push(&bad_prep);
        assert!(!verify_prepared_batch(&with_bad));
    }

    #[test]
    fn pkcs8_round_trip_and_debug_redacts() {
        let sk = SigningKey::from_seed(&[3u8; 32]);
        let der = sk.to_pkcs8_der();
        let back = SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(back.public_key(), sk.public_key());
        let shown = format!("{sk:?}");
        assert!(shown.contains("redacted"));
        assert!(!shown.contains(&hex::encode([3u8; 32])));
    }

    #[test]
    fn key_id_is_rfc7638_thumbprint() {
        // RFC 8037 appendix A.3: thumbprint of the RFC 8032 test-1 key.
        let pk =
            PublicKey::from_bytes(&hex32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")).unwrap();
        assert_eq!(pk.key_id(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }
}

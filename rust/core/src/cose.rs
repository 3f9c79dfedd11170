//! COSE public keys of WebAuthn credentials and their three signature algorithms.
//!
//! A WebAuthn credential's public key arrives once, at registration, as a
//! COSE_Key (RFC 9052 section 7) in CBOR. It is validated then, completely
//! (algorithm, key type, curve, point on the curve, RSA modulus size), so that
//! verification later only ever sees keys that can be trusted to be what they
//! claim:
//!
//! | COSE `alg` | name  | key (`kty`, parameters)          | signature over `message`                         |
//! |-----------:|-------|----------------------------------|--------------------------------------------------|
//! | -7         | ES256 | EC2, crv 1 (P-256), x, y         | ECDSA P-256 + SHA-256, ASN.1 DER `(r, s)`; high S accepted |
//! | -8         | EdDSA | OKP, crv 6 (Ed25519), x          | Ed25519 under the strict rule of [`crate::ed25519`] |
//! | -257       | RS256 | RSA, n (2048..=4096 bits), e     | RSASSA-PKCS1-v1_5 + SHA-256                      |
//!
//! Curve arithmetic is never ours: P-256 is RustCrypto's `p256` (every target)
//! or, with the `ring` feature, ring's assembly (native targets, about four
//! times fewer instructions); RSA is RustCrypto's `rsa` (public-key operations
//! only, so its private-key timing advisories do not apply); Ed25519 is
//! curve25519-dalek's. The Wycheproof suites run through both P-256 backends
//! (`tests/webauthn_wycheproof.rs`) and every verdict is the same.

use core::fmt;

use minicbor::data::Type;
use minicbor::decode::Decoder;
use sha2::{Digest, Sha256};

use crate::ed25519;
use crate::errors::{Error, ErrorCode, Result};

/// Smallest accepted RSA modulus, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest accepted RSA modulus, in bits (bounds the cost of one verification).
pub const MAX_RSA_BITS: usize = 4096;

/// The COSE algorithms a credential may use (IANA "COSE Algorithms").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CoseAlgorithm {
    /// ECDSA with P-256 and SHA-256 (`-7`).
    Es256,
    /// EdDSA, here Ed25519 only (`-8`).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (`-257`).
    Rs256,
}

impl CoseAlgorithm {
    /// Every supported algorithm, in the order a relying party should offer them.
    pub const ALL: [CoseAlgorithm; 3] = [CoseAlgorithm::Es256, CoseAlgorithm::EdDsa, CoseAlgorithm::Rs256];

    /// The COSE algorithm identifier.
    pub const fn id(self) -> i64 {
        match self {
            CoseAlgorithm::Es256 => -7,
            CoseAlgorithm::EdDsa => -8,
            CoseAlgorithm::Rs256 => -257,
        }
    }

    /// The JOSE-style name.
    pub const fn name(self) -> &'static str {
        match self {
            CoseAlgorithm::Es256 => "ES256",
            CoseAlgorithm::EdDsa => "EdDSA",
            CoseAlgorithm::Rs256 => "RS256",
        }
    }

    /// Looks an algorithm up by its COSE identifier.
    pub fn from_id(id: i64) -> Result<CoseAlgorithm> {
        CoseAlgorithm::ALL.into_iter().find(|alg| alg.id() == id).ok_or_else(|| {
            Error::new(ErrorCode::UnsupportedCoseAlgorithm, format!("COSE algorithm {id} is not ES256, EdDSA or RS256"))
        })
    }
}

/// Which implementation verifies ES256 signatures.
///
/// Both give the same verdict on every input (the Wycheproof test runs each);
/// they differ only in speed and in where they build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum P256Backend {
    /// RustCrypto `p256`: portable Rust, every target including wasm32.
    RustCrypto,
    /// ring's P-256 (assembly); native targets with the `ring` feature.
    #[cfg(feature = "ring")]
    Ring,
}

impl P256Backend {
    /// The backend [`CoseKey::verify`] uses: the fastest one compiled in.
    #[cfg(feature = "ring")]
    pub const DEFAULT: P256Backend = P256Backend::Ring;
    /// The backend [`CoseKey::verify`] uses: the fastest one compiled in.
    #[cfg(not(feature = "ring"))]
    pub const DEFAULT: P256Backend = P256Backend::RustCrypto;

    /// Every backend compiled in.
    pub const ALL: &'static [P256Backend] = &[
        P256Backend::RustCrypto,
        #[cfg(feature = "ring")]
        P256Backend::Ring,
    ];
}

#[derive(Clone)]
enum KeyMaterial {
    P256 { sec1: [u8; 65], key: p256::ecdsa::VerifyingKey },
    Ed25519(ed25519::PublicKey),
    Rsa(rsa::RsaPublicKey),
}

/// A validated COSE public key together with its exact CBOR encoding.
///
/// The encoding is kept byte for byte, so that a key registry can store what
/// the authenticator produced and rebuild the same key from it.
#[derive(Clone)]
pub struct CoseKey {
    algorithm: CoseAlgorithm,
    material: KeyMaterial,
    encoded: Vec<u8>,
}

impl CoseKey {
    /// Parses and validates a COSE_Key given as exactly one CBOR map.
    pub fn from_cbor(bytes: &[u8]) -> Result<CoseKey> {
        let (key, used) = CoseKey::decode_prefix(bytes)?;
        if used != bytes.len() {
            return Err(invalid_key("trailing bytes after the COSE key"));
        }
        Ok(key)
    }

    /// Parses the COSE_Key at the start of `bytes` (attested credential data,
    /// where the key is followed by extensions): the key and its length.
    pub(crate) fn decode_prefix(bytes: &[u8]) -> Result<(CoseKey, usize)> {
        let mut decoder = Decoder::new(bytes);
        let fields = Fields::read(&mut decoder)?;
        let used = decoder.position();
        let encoded = bytes.get(..used).map(<[u8]>::to_vec).unwrap_or_default();
        Ok((CoseKey::from_fields(&fields, encoded)?, used))
    }

    fn from_fields(fields: &Fields<'_>, encoded: Vec<u8>) -> Result<CoseKey> {
        let id = fields.alg.ok_or_else(|| invalid_key("no alg (3)"))?;
        let algorithm = CoseAlgorithm::from_id(id)?;
        let material = match algorithm {
            CoseAlgorithm::Es256 => {
                fields.expect_kty(2, "EC2")?;
                if fields.minus1 != Some(Item::Int(1)) {
                    return Err(invalid_key("ES256 needs crv (-1) = 1 (P-256)"));
                }
                let x = fields.bytes(fields.minus2, 32, "x (-2)")?;
                let y = fields.bytes(fields.minus3, 32, "y (-3)")?;
                let mut sec1 = [0u8; 65];
                sec1[0] = 0x04;
                sec1[1..33].copy_from_slice(x);
                sec1[33..].copy_from_slice(y);
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map_err(|_| invalid_key("(x, y) is not a point on P-256"))?;
                KeyMaterial::P256 { sec1, key }
            }
            CoseAlgorithm::EdDsa => {
                fields.expect_kty(1, "OKP")?;
                if fields.minus1 != Some(Item::Int(6)) {
                    return Err(invalid_key("EdDSA needs crv (-1) = 6 (Ed25519)"));
                }
                let x: &[u8; 32] = fields
                    .bytes(fields.minus2, 32, "x (-2)")?
                    .try_into()
                    .map_err(|_| invalid_key("x (-2) must be 32 bytes"))?;
                let key = ed25519::PublicKey::from_bytes(x).map_err(|e| match e.code() {
                    ErrorCode::WeakPublicKey => e,
                    _ => invalid_key("x (-2) is not a canonical Ed25519 point"),
                })?;
                KeyMaterial::Ed25519(key)
            }
            CoseAlgorithm::Rs256 => {
                fields.expect_kty(3, "RSA")?;
                let n = fields.unsigned(fields.minus1, "n (-1)")?;
                let e = fields.unsigned(fields.minus2, "e (-2)")?;
                let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
                if bits < MIN_RSA_BITS {
                    return Err(Error::new(
                        ErrorCode::WeakPublicKey,
                        format!("RSA modulus of {bits} bits, under {MIN_RSA_BITS}"),
                    ));
                }
                if bits > MAX_RSA_BITS {
                    return Err(invalid_key(format!("RSA modulus of {bits} bits, over {MAX_RSA_BITS}")));
                }
                let key = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(n), rsa::BigUint::from_bytes_be(e))
                    .map_err(|e| invalid_key(format!("not an RSA public key ({e})")))?;
                KeyMaterial::Rsa(key)
            }
        };
        Ok(CoseKey { algorithm, material, encoded })
    }

    /// The key's signature algorithm.
    pub fn algorithm(&self) -> CoseAlgorithm {
        self.algorithm
    }

    /// The COSE_Key exactly as it was parsed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// Verifies `signature` over `message` (the algorithm hashes `message` itself).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        self.verify_with(P256Backend::DEFAULT, message, signature)
    }

    /// [`CoseKey::verify`] with a chosen ES256 implementation (equivalence tests
    /// and benchmarks); other algorithms ignore `backend`.
    pub fn verify_with(&self, backend: P256Backend, message: &[u8], signature: &[u8]) -> Result<()> {
        let valid = match &self.material {
            KeyMaterial::P256 { sec1, key } => match backend {
                P256Backend::RustCrypto => {
                    use p256::ecdsa::signature::Verifier;
                    let _ = sec1;
                    p256::ecdsa::Signature::from_der(signature).is_ok_and(|sig| key.verify(message, &sig).is_ok())
                }
                #[cfg(feature = "ring")]
                P256Backend::Ring => {
                    let _ = key;
                    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, sec1)
                        .verify(message, signature)
                        .is_ok()
                }
            },
            KeyMaterial::Ed25519(key) => {
                let signature: &[u8; 64] = signature
                    .try_into()
                    .map_err(|_| Error::new(ErrorCode::BadSignature, "an Ed25519 signature is 64 bytes"))?;
                return ed25519::verify(key, message, signature);
            }
            KeyMaterial::Rsa(key) => {
                let hashed = Sha256::digest(message);
                key.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &hashed, signature).is_ok()
            }
        };
        if valid {
            Ok(())
        } else {
            Err(Error::new(ErrorCode::BadSignature, format!("{} signature does not verify", self.algorithm.name())))
        }
    }
}

impl PartialEq for CoseKey {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded
    }
}

impl Eq for CoseKey {}

impl fmt::Debug for CoseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CoseKey({}, {} bytes)", self.algorithm.name(), self.encoded.len())
    }
}

fn invalid_key(detail: impl Into<String>) -> Error {
    let detail: String = detail.into();
    Error::new(ErrorCode::InvalidCoseKey, format!("COSE key: {detail}"))
}

/// A COSE_Key parameter value, as far as the three key types need one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item<'b> {
    Int(i64),
    Bytes(&'b [u8]),
    Other,
}

/// The parameters of a COSE_Key map that the supported key types use.
///
/// Labels -1..-3 mean different things per key type (crv/x/y for EC2 and
/// OKP, n/e for RSA), so they are kept raw until `kty` is known.
#[derive(Default)]
struct Fields<'b> {
    kty: Option<i64>,
    alg: Option<i64>,
    minus1: Option<Item<'b>>,
    minus2: Option<Item<'b>>,
    minus3: Option<Item<'b>>,
}

impl<'b> Fields<'b> {
    /// Reads one definite-length map with integer or text labels, each at
    /// most once; values of labels we do not use are skipped.
    fn read(d: &mut Decoder<'b>) -> Result<Fields<'b>> {
        let cbor = |_| invalid_key("not well-formed CBOR");
        if d.datatype().map_err(cbor)? != Type::Map {
            return Err(invalid_key("not a definite-length CBOR map"));
        }
        let entries = d.map().map_err(cbor)?.unwrap_or(0);
        let mut fields = Fields::default();
        let mut seen_ints: Vec<i64> = Vec::new();
        let mut seen_texts: Vec<&str> = Vec::new();
        for _ in 0..entries {
            let label = match d.datatype().map_err(cbor)? {
                Type::String => {
                    let text = d.str().map_err(cbor)?;
                    if seen_texts.contains(&text) {
                        return Err(invalid_key(format!("label {text:?} twice")));
                    }
                    seen_texts.push(text);
                    d.skip().map_err(cbor)?;
                    continue;
                }
                t if is_int(t) => d.i64().map_err(cbor)?,
                _ => return Err(invalid_key("labels must be integers or text")),
            };
            if seen_ints.contains(&label) {
                return Err(invalid_key(format!("label {label} twice")));
            }
            seen_ints.push(label);
            match label {
                1 => fields.kty = Some(int(d, "kty (1)")?),
                3 => fields.alg = Some(int(d, "alg (3)")?),
                -1 => fields.minus1 = Some(item(d)?),
                -2 => fields.minus2 = Some(item(d)?),
                -3 => fields.minus3 = Some(item(d)?),
                _ => d.skip().map_err(cbor)?,
            }
        }
        Ok(fields)
    }

    fn expect_kty(&self, kty: i64, name: &str) -> Result<()> {
        if self.kty != Some(kty) {
            return Err(invalid_key(format!("kty (1) must be {kty} ({name}) for this alg")));
        }
        Ok(())
    }

    fn bytes(&self, item: Option<Item<'b>>, len: usize, what: &str) -> Result<&'b [u8]> {
        match item {
            Some(Item::Bytes(b)) if b.len() == len => Ok(b),
            _ => Err(invalid_key(format!("{what} must be a byte string of {len} bytes"))),
        }
    }

    /// A big-endian unsigned integer: a non-empty byte string without leading zeros.
    fn unsigned(&self, item: Option<Item<'b>>, what: &str) -> Result<&'b [u8]> {
        match item {
            Some(Item::Bytes(b)) if b.first().is_some_and(|first| *first != 0) => Ok(b),
            _ => Err(invalid_key(format!("{what} must be a byte string without leading zeros"))),
        }
    }
}

pub(crate) fn is_int(t: Type) -> bool {
    matches!(t, Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int)
}

fn int(d: &mut Decoder<'_>, what: &str) -> Result<i64> {
    match d.datatype() {
        Ok(t) if is_int(t) => d.i64().map_err(|_| invalid_key(format!("{what} out of range"))),
        _ => Err(invalid_key(format!("{what} must be an integer"))),
    }
}

fn item<'b>(d: &mut Decoder<'b>) -> Result<Item<'b>> {
    let cbor = |_| invalid_key("not well-formed CBOR");
    Ok(match d.datatype().map_err(cbor)? {
        Type::Bytes => Item::Bytes(d.bytes().map_err(cbor)?),
        t if is_int(t) => Item::Int(d.i64().map_err(|_| invalid_key("integer parameter out of range"))?),
        _ => {
            d.skip().map_err(cbor)?;
            Item::Other
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    // py_webauthn tests/test_verify_registration_response.py (none attestation, localhost).
    const ES256_KEY: &str = "a50102032620012158204856d4245fb8d94837a5d33cac3445bbf379a22544cac3c307a9faeabffb7590225820d4567077f45946ca92fea80a083bdc561ed272828da37c398797efde28544b0c";

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn parses_es256_and_keeps_the_encoding() {
        let bytes = hex(ES256_KEY);
        let key = CoseKey::from_cbor(&bytes).unwrap();
        assert_eq!(key.algorithm(), CoseAlgorithm::Es256);
        assert_eq!(key.as_bytes(), bytes.as_slice());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(CoseKey::from_cbor(&trailing).unwrap_err().code(), ErrorCode::InvalidCoseKey);
    }

    #[test]
    fn rejects_bad_keys_with_their_codes() {
        let good = hex(ES256_KEY);
        // alg -35 (ES384)
        let mut es384 = good.clone();
        es384[4] = 0x38;
        es384.insert(5, 0x22);
        assert_eq!(CoseKey::from_cbor(&es384).unwrap_err().code(), ErrorCode::UnsupportedCoseAlgorithm);
        // y flipped: off the curve
        let mut off = good.clone();
        let last = off.len() - 1;
        off[last] ^= 1;
        assert_eq!(CoseKey::from_cbor(&off).unwrap_err().code(), ErrorCode::InvalidCoseKey);
        // kty 1 with alg -7
        let mut kty = good.clone();
        kty[2] = 0x01;
        assert_eq!(CoseKey::from_cbor(&kty).unwrap_err().code(), ErrorCode::InvalidCoseKey);
        // duplicate label: map of 6 with kty twice
        let mut dup = good.clone();
        dup[0] = 0xa6;
        dup.extend_from_slice(&[0x01, 0x02]);
        assert_eq!(CoseKey::from_cbor(&dup).unwrap_err().code(), ErrorCode::InvalidCoseKey);
        // indefinite-length map
        let mut indef = good.clone();
        indef[0] = 0xbf;
        indef.push(0xff);
        assert_eq!(CoseKey::from_cbor(&indef).unwrap_err().code(), ErrorCode::InvalidCoseKey);
        assert_eq!(CoseKey::from_cbor(&[]).unwrap_err().code(), ErrorCode::InvalidCoseKey);
    }

    #[test]
    fn small_order_ed25519_key_is_weak() {
        // {1: 1, 3: -8, -1: 6, -2: identity point}
        let mut cbor = hex("a401010327200621 5820");
        let mut identity = [0u8; 32];
        identity[0] = 1;
        cbor.extend_from_slice(&identity);
        assert_eq!(CoseKey::from_cbor(&cbor).unwrap_err().code(), ErrorCode::WeakPublicKey);
    }
}

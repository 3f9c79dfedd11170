//! Batch verification decides exactly what single verification decides, for
//! honest, tampered and adversarial proofs (small-order R, non-canonical S,
//! torsion-only signatures made by the key holder, untrusted keys, stale
//! proofs), in every grouping and order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use proof_messenger_core::batch::{verify_batch, verify_requests_with, BatchItem, Item, Origin};
use proof_messenger_core::ed25519::{PublicKey, SigningKey};
use proof_messenger_core::json::{parse, Limits, Value};
use proof_messenger_core::proof::{AnyProof, Envelope, Proof};
use proof_messenger_core::verify::{verify, Policy, Trusted};
use proof_messenger_core::ErrorCode;
use sha2::{Digest, Sha512};

const NOW: u64 = 1_764_331_200_000;

/// A tiny deterministic generator (SHA-512 in counter mode) so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        let block = Sha512::digest(self.0.to_be_bytes());
        u64::from_be_bytes(block[..8].try_into().unwrap())
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn envelope(i: usize, timestamp: u64) -> Envelope {
    let text =
        format!(r#"{{"action":"wire_transfer","amount":"{i}.00","subject":"user-{i}","to":"ACME-CORP-ACCOUNT-123"}}"#);
    let Value::Object(context) = parse(text.as_bytes(), &Limits::default()).unwrap() else { panic!() };
    let nonce = proof_messenger_core::encoding::encode_base64url(&Sha512::digest(i.to_be_bytes())[..16]);
    Envelope::new(context, "payments-api".into(), timestamp, &nonce).unwrap()
}

/// The secret scalar of a seed (RFC 8032 section 5.1.5).
fn secret_scalar(seed: &[u8; 32]) -> Scalar {
    let h = Sha512::digest(seed);
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    Scalar::from_bytes_mod_order(a)
}

/// A signature with R = rB + T: only the key holder can make it; the cofactored rule accepts it.
fn torsion_signature(seed: &[u8; 32], message: &[u8], torsion: usize, r_seed: u8) -> [u8; 64] {
    let key = SigningKey::from_seed(seed);
    let r = Scalar::from_bytes_mod_order([r_seed; 32]);
    let r_point: EdwardsPoint = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[torsion];
    let r_enc = r_point.compress().to_bytes();
    let mut h = [0u8; 64];
    h.copy_from_slice(
        &Sha512::new().chain_update(r_enc).chain_update(key.public_key().as_bytes()).chain_update(message).finalize(),
    );
    let s = r + Scalar::from_bytes_mod_order_wide(&h) * secret_scalar(seed);
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_enc);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

struct Case {
    proof: Proof,
    trusted: Vec<PublicKey>,
    label: &'static str,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let l_bytes = hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").unwrap();
    for i in 0..40usize {
        let seed = [(i as u8).wrapping_add(1); 32];
        let key = SigningKey::from_seed(&seed);
        let trusted = vec![key.public_key()];
        let env = envelope(i, NOW - 1_000);
        let digest = *env.signed_digest();
        let honest = key.sign(&digest);
        let pk = *key.public_key().as_bytes();
        let (label, proof) = match i % 10 {
            0..=3 => ("valid", env.into_proof(pk, honest)),
            4 => {
                let mut sig = honest;
                sig[(i * 7) % 64] ^= 1 << (i % 8);
                ("tampered", env.into_proof(pk, sig))
            }
            5 => ("torsion-only", env.into_proof(pk, torsion_signature(&seed, &digest, 1 + i % 7, i as u8))),
            6 => {
                // R replaced by a small-order point, S kept.
                let mut sig = honest;
                sig[..32].copy_from_slice(EIGHT_TORSION[2].compress().as_bytes());
                ("small-order R", env.into_proof(pk, sig))
            }
            7 => {
                // S + L: the same scalar, non-canonical.
                let mut sig = honest;
                let mut carry = 0u16;
                for j in 0..32 {
                    let v = u16::from(sig[32 + j]) + u16::from(l_bytes[j]) + carry;
                    sig[32 + j] = v as u8;
                    carry = v >> 8;
                }
                ("S + L", env.into_proof(pk, sig))
            }
            8 => {
                let other = SigningKey::from_seed(&[200u8; 32]);
                ("untrusted key", env.into_proof(*other.public_key().as_bytes(), other.sign(&digest)))
            }
            _ => {
                let stale = envelope(i, NOW - 400_000);
                let sig = key.sign(stale.signed_digest());
                ("expired", stale.into_proof(pk, sig))
            }
        };
        out.push(Case { proof, trusted, label });
    }
    out
}

#[test]
fn single_verdicts_are_the_expected_ones() {
    let policy = Policy::new("payments-api", NOW);
    for case in cases() {
        let got = verify(&case.proof, &case.trusted, &policy).err().map(|e| e.code());
        let expected = match case.label {
            "valid" | "torsion-only" => None,
            "untrusted key" => Some(ErrorCode::UntrustedKey),
            "expired" => Some(ErrorCode::ProofExpired),
            _ => Some(ErrorCode::BadSignature),
        };
        assert_eq!(got, expected, "{}", case.label);
    }
}

#[test]
fn batch_equals_single_in_every_grouping() {
    let policy = Policy::new("payments-api", NOW);
    let all = cases();
    let single: Vec<Option<ErrorCode>> =
        all.iter().map(|c| verify(&c.proof, &c.trusted, &policy).err().map(|e| e.code())).collect();
    let mut rng = Rng(7);
    for round in 0..60 {
        // A random multiset of cases (repeats included), in random order.
        let size = 1 + rng.below(if round % 3 == 0 { 300 } else { 40 });
        let picks: Vec<usize> = (0..size).map(|_| rng.below(all.len())).collect();
        let items: Vec<BatchItem<'_>> =
            picks.iter().map(|&i| BatchItem { proof: &all[i].proof, trusted: &all[i].trusted }).collect();
        let batch: Vec<Option<ErrorCode>> =
            verify_batch(&items, &policy).into_iter().map(|r| r.err().map(|e| e.code())).collect();
        for (position, &i) in picks.iter().enumerate() {
            assert_eq!(batch[position], single[i], "round {round}, item {position}: {}", all[i].label);
        }
    }
}

#[test]
fn a_batch_of_only_torsion_pairs_is_still_decided_per_item() {
    // Two items with order-2 torsion in R cancel in a cofactorless random
    // combination whenever z1 + z2 is even; the cofactored rule accepts both
    // anyway, and single verification agrees.
    let policy = Policy::new("payments-api", NOW);
    let seed = [9u8; 32];
    let key = SigningKey::from_seed(&seed);
    let proofs: Vec<Proof> = (0..2)
        .map(|i| {
            let env = envelope(100 + i, NOW);
            let sig = torsion_signature(&seed, env.signed_digest(), 4, 50 + i as u8);
            env.into_proof(*key.public_key().as_bytes(), sig)
        })
        .collect();
    let trusted = [key.public_key()];
    let items: Vec<BatchItem<'_>> = proofs.iter().map(|p| BatchItem { proof: p, trusted: &trusted }).collect();
    for (p, r) in proofs.iter().zip(verify_batch(&items, &policy)) {
        assert_eq!(r.is_ok(), verify(p, &trusted, &policy).is_ok());
        assert!(r.is_ok());
    }
}

#[test]
fn requests_change_no_verdict() {
    // The same random multisets, cut into requests of random sizes of three callers (a
    // caller's proofs share no chunk with another's; a request of 64+ gets chunks of its
    // own, smaller ones share and are re-checked request by request).
    let policy = Policy::new("payments-api", NOW);
    let all = cases();
    let single: Vec<Option<ErrorCode>> =
        all.iter().map(|c| verify(&c.proof, &c.trusted, &policy).err().map(|e| e.code())).collect();
    let any: Vec<AnyProof> = all.iter().map(|c| AnyProof::Ed25519(c.proof.clone())).collect();
    let mut rng = Rng(11);
    for round in 0..40 {
        let size = 1 + rng.below(if round % 2 == 0 { 400 } else { 60 });
        let picks: Vec<usize> = (0..size).map(|_| rng.below(all.len())).collect();
        let mut requests: Vec<Origin> = Vec::with_capacity(size);
        let mut request = 0u32;
        while requests.len() < size {
            let run = match rng.below(4) {
                0 => 1,
                1 => 1 + rng.below(10),
                2 => 64 + rng.below(100),
                _ => 1 + rng.below(63),
            };
            let origin = Origin { caller: u32::try_from(rng.below(3)).unwrap(), request };
            requests.extend(std::iter::repeat(origin).take(run.min(size - requests.len())));
            request += 1;
        }
        let items: Vec<Item<'_>> =
            picks.iter().map(|&i| Item { proof: &any[i], trusted: Trusted::keys(&all[i].trusted) }).collect();
        let batch: Vec<Option<ErrorCode>> = verify_requests_with(&items, &requests, &policy, None)
            .into_iter()
            .map(|r| r.err().map(|e| e.code()))
            .collect();
        for (position, &i) in picks.iter().enumerate() {
            assert_eq!(batch[position], single[i], "round {round}, item {position}: {}", all[i].label);
        }
    }
}

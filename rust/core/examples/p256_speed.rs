//! How fast each compiled-in P-256 backend verifies one ES256 WebAuthn
//! signature (the measurement behind the choice in docs/PERFORMANCE.md,
//! section "WebAuthn"). A measurement, not a check, so an example:
//!
//!     cargo run --release -p proof-messenger-core --example p256_speed
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::print_stderr)]

use std::time::Instant;

use p256::ecdsa::signature::Signer;
use proof_messenger_core::cose::{CoseKey, P256Backend};

fn main() {
    let key = p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    let mut cose = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
    cose.extend_from_slice(point.x().unwrap());
    cose.extend_from_slice(&[0x22, 0x58, 0x20]);
    cose.extend_from_slice(point.y().unwrap());
    let cose = CoseKey::from_cbor(&cose).unwrap();
    let message = [5u8; 37 + 32]; // authenticatorData || SHA-256(clientDataJSON)
    let signature: p256::ecdsa::Signature = key.sign(&message);
    let der = signature.to_der();
    for backend in P256Backend::ALL {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let n = 2_000;
            let start = Instant::now();
            for _ in 0..n {
                cose.verify_with(*backend, &message, der.as_bytes()).unwrap();
            }
            best = best.min(start.elapsed().as_nanos() as f64 / f64::from(n));
        }
        eprintln!("{backend:?}: {:.1} µs per ES256 verify (best of 5 rounds of 2000)", best / 1000.0);
    }
}

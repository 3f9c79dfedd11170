//! proof-messenger core: the rules every implementation shares.
//!
//! Pure functions from bytes and policy values to verdicts: RFC 8785
//! canonical JSON ([`canonical`]), context digests and the v1 signing payload
//! ([`digest`]), the proof wire format ([`proof`]), strict Ed25519
//! ([`ed25519`]), WebAuthn assertions and registrations ([`webauthn`]) with
//! their COSE keys ([`cose`]), policy checks ([`verify`]) and batch
//! verification ([`batch`]). No I/O, no clock, no randomness: callers inject time and
//! nonces, so every verdict is reproducible. `docs/PROTOCOL.md` is the
//! contract this crate implements.
//!
//! ```
//! use proof_messenger_core::{ed25519::SigningKey, proof::Envelope, verify::{verify, Policy}};
//! use proof_messenger_core::json::{parse, Limits, Value};
//!
//! let key = SigningKey::from_seed(&[7u8; 32]);
//! let Value::Object(context) = parse(br#"{"action":"approve","amount":"50000.00","subject":"alice"}"#, &Limits::default())? else { unreachable!() };
//! let envelope = Envelope::new(context, "payments-api".into(), 1_700_000_000_000, "AAECAwQFBgcICQoLDA0ODw")?;
//! let proof = envelope.sign(&key);
//! let policy = Policy { audience: "payments-api".into(), now_ms: 1_700_000_001_000, max_age_ms: 300_000, max_skew_ms: 30_000 };
//! verify(&proof, &[key.public_key()], &policy)?;
//! # Ok::<(), proof_messenger_core::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod batch;
pub mod canonical;
pub mod cose;
pub mod digest;
pub mod ed25519;
pub mod encoding;
pub mod errors;
pub mod json;
pub mod merkle;
pub mod proof;
pub mod verify;
pub mod webauthn;

pub use errors::{Error, ErrorCode, Result};
pub use json::Limits;

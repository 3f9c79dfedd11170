//! The Relay Server's own rules, in plain Rust: what the relay decides
//! beyond the core's verdict, the bookkeeping behind replay protection and
//! rate limits, and the one writer of each record it emits.
//!
//! - [`decision`]: a [`Decision`](decision::Decision) from the core's verdict
//!   and the stores' [`Refusal`](decision::Refusal)s;
//! - [`claims`] and [`nonce_index`]: nonce claims, their keys, and the
//!   in-memory index of consumed claims;
//! - [`token_buckets`]: keyed token buckets and grouped charging;
//! - the record writers: [`audit_entry`], [`decision_line`], [`verdict`]
//!   (over [`json_writer`]); `tests/vectors/relay/records.json` pins their bytes.
//!
//! Like the core, it has no I/O, clock or randomness of its own (the token
//! buckets read the monotonic clock, as rate limiting must). The Python
//! package reaches it through `proof_messenger._core.relay` (rust/python),
//! which only converts.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit_entry;
pub mod claims;
pub mod decision;
pub mod decision_line;
pub mod errors;
pub mod json_writer;
pub mod nonce_index;
pub mod token_buckets;
pub mod verdict;

pub use decision::{Context, Decision, Owner, Receipt, Refusal};
pub use errors::RecordError;

//! Verifying many proofs at once, with the same verdicts as one at a time.
//!
//! Each proof first goes through every per-proof check ([`check_policy`] and
//! the strict signature decoding of [`PreparedSignature::new`]); only the
//! group equations of the survivors are combined. Because single and batch
//! verification share the cofactored rule (see [`crate::ed25519`]), a batch
//! equation holds exactly when every member's does (up to 2^-128). When a
//! chunk fails, it is split in halves until the failing proofs are isolated
//! and checked one by one, so the result names exactly the proofs that fail.

use crate::ed25519::{verify_prepared_batch, PreparedSignature, PublicKey};
use crate::errors::{Error, ErrorCode, Result};
use crate::proof::Proof;
use crate::verify::{check_policy, Policy};

/// Proofs per batch equation: large enough to amortise the multi-scalar
/// multiplication, small enough that a bad proof costs little bisection.
pub const CHUNK: usize = 128;
/// Below this size a failing chunk is checked item by item.
const LEAF: usize = 4;

/// One proof and the keys trusted for its subject.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// The parsed proof.
    pub proof: &'a Proof,
    /// The keys trusted for the proof's subject.
    pub trusted: &'a [PublicKey],
}

/// Verifies every item under one policy; one result per item, in order.
///
/// With the `parallel` feature, work is spread over rayon's thread pool.
pub fn verify_batch(items: &[BatchItem<'_>], policy: &Policy) -> Vec<Result<()>> {
    let prepared: Vec<Result<PreparedSignature>> = map(items, |item| {
        let key = check_policy(item.proof, item.trusted, policy)?;
        PreparedSignature::new(key, item.proof.envelope().signed_digest(), item.proof.signature())
    });
    let candidates: Vec<(usize, &PreparedSignature)> =
        prepared.iter().enumerate().filter_map(|(i, p)| p.as_ref().ok().map(|p| (i, p))).collect();
    let chunks: Vec<&[(usize, &PreparedSignature)]> = candidates.chunks(CHUNK).collect();
    let chunk_verdicts: Vec<Vec<bool>> = map(&chunks, |chunk| {
        let signatures: Vec<&PreparedSignature> = chunk.iter().map(|(_, p)| *p).collect();
        if verify_prepared_batch(&signatures) {
            vec![true; signatures.len()]
        } else {
            isolate_failures(&signatures)
        }
    });
    let mut failed = vec![false; items.len()];
    for (chunk, chunk_verdict) in chunks.iter().zip(chunk_verdicts) {
        for ((index, _), ok) in chunk.iter().zip(chunk_verdict) {
            if let Some(flag) = failed.get_mut(*index) {
                *flag = !ok;
            }
        }
    }
    drop(chunks);
    drop(candidates);
    prepared
        .into_iter()
        .zip(failed)
        .map(|(prepared, failed)| match prepared {
            Err(e) => Err(e),
            Ok(_) if failed => Err(Error::new(ErrorCode::BadSignature, "signature does not verify")),
            Ok(_) => Ok(()),
        })
        .collect()
}

/// Per-item verdicts for a chunk whose batch equation failed.
fn isolate_failures(signatures: &[&PreparedSignature]) -> Vec<bool> {
    if signatures.len() <= LEAF {
        return signatures.iter().map(|s| s.verify()).collect();
    }
    let (left, right) = signatures.split_at(signatures.len() / 2);
    let mut out = Vec::with_capacity(signatures.len());
    for half in [left, right] {
        if verify_prepared_batch(half) {
            out.extend(core::iter::repeat(true).take(half.len()));
        } else {
            out.extend(isolate_failures(half));
        }
    }
    out
}

#[cfg(feature = "parallel")]
fn map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync + Send) -> Vec<U> {
    use rayon::prelude::*;
    items.par_iter().map(f).collect()
}

#[cfg(not(feature = "parallel"))]
fn map<T, U>(items: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
    items.iter().map(f).collect()
}

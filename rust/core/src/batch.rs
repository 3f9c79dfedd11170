//! Verifying many proofs at once, with the same verdicts as one at a time.
//!
//! Each proof first goes through every per-proof check ([`check_policy`] and
//! the strict signature decoding of [`PreparedSignature::new`]); only the
//! group equations of the survivors are combined. Because single and batch
//! verification share the cofactored rule (see [`crate::ed25519`]), a batch
//! equation holds exactly when every member's does (up to 2^-128). When a
//! chunk fails, each of its members is checked on its own, so the result names
//! exactly the proofs that fail (see [`isolate_failures`] for why not bisection).
//!
//! WebAuthn proofs (ES256, EdDSA, RS256 assertions) have no batch equation
//! worth its complexity: each is verified by [`verify_with`], the single-proof
//! function itself, in the same parallel pass that prepares the Ed25519
//! items, so batch and single verification agree by construction.

use crate::ed25519::{verify_prepared_batch, PreparedSignature, PublicKey};
use crate::errors::{Error, ErrorCode, Result};
use crate::proof::{AnyProof, Proof};
use crate::verify::{check_policy, verify_with, Policy, Trusted, Verified};
use crate::webauthn::RelyingParty;

/// Fewest and most proofs per batch equation. A larger multi-scalar
/// multiplication is cheaper per proof (measured: 35 us at 128, 26 us at 1024
/// per signature on the 2-core benchmark machine), but each chunk is one unit
/// of parallel work and a bad proof costs its chunk's single verifications.
pub const CHUNK_RANGE: (usize, usize) = (64, 1024);

/// One Ed25519 proof and the keys trusted for its subject.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// The parsed proof.
    pub proof: &'a Proof,
    /// The keys trusted for the proof's subject.
    pub trusted: &'a [PublicKey],
}

/// One proof of either kind and what is trusted for its subject.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// The parsed proof.
    pub proof: &'a AnyProof,
    /// The keys and credentials trusted for the proof's subject.
    pub trusted: Trusted<'a>,
}

/// Verifies Ed25519 proofs under one policy; one result per item, in order.
///
/// With the `parallel` feature, work is spread over rayon's thread pool.
pub fn verify_batch(items: &[BatchItem<'_>], policy: &Policy) -> Vec<Result<()>> {
    let items: Vec<(Kind<'_>, Trusted<'_>)> =
        items.iter().map(|item| (Kind::Ed25519(item.proof), Trusted::keys(item.trusted))).collect();
    run(&items, policy, None).into_iter().map(|r| r.map(|_| ())).collect()
}

/// Verifies proofs of both kinds under one policy; one result per item, in
/// order, each equal to [`verify_with`] of that item.
pub fn verify_batch_with(
    items: &[Item<'_>],
    policy: &Policy,
    relying_party: Option<&RelyingParty>,
) -> Vec<Result<Verified>> {
    let items: Vec<(Kind<'_>, Trusted<'_>)> = items
        .iter()
        .map(|item| match item.proof {
            AnyProof::Ed25519(proof) => (Kind::Ed25519(proof), item.trusted),
            any @ AnyProof::WebAuthn(_) => (Kind::Other(any), item.trusted),
        })
        .collect();
    run(&items, policy, relying_party)
}

#[derive(Clone, Copy)]
enum Kind<'a> {
    /// Joins the batch equation.
    Ed25519(&'a Proof),
    /// Verified on its own.
    Other(&'a AnyProof),
}

// Stages live for one pass and are mostly `Pending`: boxing would cost an
// allocation per proof to save memory that is freed right after.
#[allow(clippy::large_enum_variant)]
enum Stage {
    Decided(Result<Verified>),
    Pending(PreparedSignature),
}

fn run(
    items: &[(Kind<'_>, Trusted<'_>)],
    policy: &Policy,
    relying_party: Option<&RelyingParty>,
) -> Vec<Result<Verified>> {
    let staged: Vec<Stage> = map(items, |(kind, trusted)| match kind {
        Kind::Ed25519(proof) => match check_policy(proof, trusted.keys, policy)
            .and_then(|key| PreparedSignature::new(key, proof.envelope().signed_digest(), proof.signature()))
        {
            Ok(prepared) => Stage::Pending(prepared),
            Err(e) => Stage::Decided(Err(e)),
        },
        Kind::Other(proof) => Stage::Decided(verify_with(proof, *trusted, policy, relying_party)),
    });
    let candidates: Vec<(usize, &PreparedSignature)> = staged
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Stage::Pending(p) => Some((i, p)),
            Stage::Decided(_) => None,
        })
        .collect();
    let chunks: Vec<&[(usize, &PreparedSignature)]> = candidates.chunks(chunk_size(candidates.len())).collect();
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
    staged
        .into_iter()
        .zip(failed)
        .map(|(stage, failed)| match stage {
            Stage::Decided(verdict) => verdict,
            Stage::Pending(_) if failed => Err(Error::new(ErrorCode::BadSignature, "signature does not verify")),
            Stage::Pending(_) => Ok(Verified::Ed25519),
        })
        .collect()
}

/// About two chunks per thread, within [`CHUNK_RANGE`]: enough to even out a thread that
/// starts late, and large chunks are cheaper per signature (measured, 1,000 proofs on
/// 2 threads, two runs each: 21.4–21.9 ms of CPU in chunks of 250, 25.1–26.6 ms in chunks of 125).
fn chunk_size(candidates: usize) -> usize {
    let per_thread = candidates.div_ceil(2 * threads());
    per_thread.clamp(CHUNK_RANGE.0, CHUNK_RANGE.1)
}

#[cfg(feature = "parallel")]
fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

#[cfg(not(feature = "parallel"))]
fn threads() -> usize {
    1
}

/// Per-item verdicts for a chunk whose batch equation failed: each member on its own.
///
/// Bisection (halves until the failures are isolated) costs a batch equation per
/// level over every failing part, and small multi-scalar multiplications are the
/// least efficient per item: a chunk with bad proofs spread through it paid for
/// about log2(n) levels and then the single checks anyway. Measured on 1,000 proofs
/// with well-formed bad signatures (CPU per proof, against verifying each one
/// alone: `benches/bench_bad_batch.py`): bisection 2.3x at 10 % bad and 2.9x
/// with all bad; checking a failing chunk's members singly bounds a bad batch by one
/// failed equation plus the single checks, which reuse the decoded points and the
/// hash of preparation. A single bad proof then costs its chunk's single checks
/// (at most `CHUNK_RANGE.1`, in practice n / (2 x threads)).
fn isolate_failures(signatures: &[&PreparedSignature]) -> Vec<bool> {
    signatures.iter().map(|s| s.verify()).collect()
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

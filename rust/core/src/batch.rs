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
//! Proofs of different callers and requests can share one call (a relay batches
//! its clients' requests together): [`verify_requests_with`] takes each proof's
//! [`Origin`]. Callers never share a batch equation, so one client's bad
//! signatures cost no other client anything; within a caller a failure is
//! isolated per request first (see [`chunks`] and [`verify_chunk`]).
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
    run(&items, &[], policy, None).into_iter().map(|r| r.map(|_| ())).collect()
}

/// Verifies proofs of both kinds under one policy; one result per item, in
/// order, each equal to [`verify_with`] of that item.
pub fn verify_batch_with(
    items: &[Item<'_>],
    policy: &Policy,
    relying_party: Option<&RelyingParty>,
) -> Vec<Result<Verified>> {
    verify_requests_with(items, &[], policy, relying_party)
}

/// Who sent a proof: the caller (an API client) and its request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The caller: proofs of different callers never share a batch equation.
    pub caller: u32,
    /// The caller's request: a request's proofs are adjacent in the items.
    pub request: u32,
}

/// [`verify_batch_with`] for proofs of several callers and requests: `origins[k]`
/// is where `items[k]` came from (empty: all from one request). The verdicts are
/// the same; what changes is who pays for a bad signature. Each caller's proofs get
/// batch equations of their own; within a caller, a request of at least
/// [`CHUNK_RANGE`]`.0` proofs gets its own too, smaller requests share, and a shared
/// equation that fails is checked again request by request before proof by proof.
pub fn verify_requests_with(
    items: &[Item<'_>],
    origins: &[Origin],
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
    run(&items, origins, policy, relying_party)
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
    origins: &[Origin],
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
    let candidates: Vec<Candidate<'_>> = staged
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Stage::Pending(p) => {
                Some(Candidate { index: i, origin: origins.get(i).copied().unwrap_or_default(), prepared: p })
            }
            Stage::Decided(_) => None,
        })
        .collect();
    let chunks = chunks(&candidates, chunk_size(candidates.len()));
    let chunk_verdicts: Vec<Vec<bool>> = map(&chunks, |chunk| verify_chunk(chunk));
    let mut failed = vec![false; items.len()];
    for (chunk, chunk_verdict) in chunks.iter().zip(chunk_verdicts) {
        for (c, ok) in chunk.iter().zip(chunk_verdict) {
            if let Some(flag) = failed.get_mut(c.index) {
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

/// A proof that passed every per-proof check and awaits its batch equation.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    index: usize,
    origin: Origin,
    prepared: &'a PreparedSignature,
}

/// The batch equations. Callers never share one: a client that sends bad signatures
/// makes only its own proofs be checked again (in the relay, clients' requests
/// interleave, so the candidates are first ordered by caller, stably). Within a
/// caller, a request of at least `CHUNK_RANGE.0` proofs is cut into chunks of its own
/// (of at most `size`); smaller requests are packed together, in order, into chunks of
/// about `size` (a single-proof request batched alone would be a single verification).
fn chunks<'a>(candidates: &[Candidate<'a>], size: usize) -> Vec<Vec<Candidate<'a>>> {
    let mut ordered = candidates.to_vec();
    ordered.sort_by_key(|c| c.origin.caller); // stable: a request's proofs stay adjacent
    let mut out: Vec<Vec<Candidate<'a>>> = Vec::new();
    for caller in ordered.chunk_by(|a, b| a.origin.caller == b.origin.caller) {
        let mut packed: Vec<Candidate<'a>> = Vec::new();
        for run in caller.chunk_by(|a, b| a.origin.request == b.origin.request) {
            if run.len() >= CHUNK_RANGE.0 {
                out.extend(run.chunks(size).map(<[Candidate<'a>]>::to_vec));
                continue;
            }
            packed.extend_from_slice(run);
            if packed.len() >= size {
                out.push(std::mem::take(&mut packed));
            }
        }
        if !packed.is_empty() {
            out.push(packed);
        }
    }
    out
}

/// One chunk's verdicts: its batch equation; if that fails and the chunk holds several
/// requests, each request's own equation (a request of one proof: its single check);
/// the members of a failing request, or of a failing one-request chunk, one by one.
fn verify_chunk(chunk: &[Candidate<'_>]) -> Vec<bool> {
    let signatures: Vec<&PreparedSignature> = chunk.iter().map(|c| c.prepared).collect();
    if verify_prepared_batch(&signatures) {
        return vec![true; signatures.len()];
    }
    let first = chunk.first().map(|c| c.origin);
    if chunk.iter().all(|c| Some(c.origin) == first) {
        return isolate_failures(&signatures);
    }
    let mut out = Vec::with_capacity(chunk.len());
    for run in chunk.chunk_by(|a, b| a.origin == b.origin) {
        let signatures: Vec<&PreparedSignature> = run.iter().map(|c| c.prepared).collect();
        if signatures.len() > 1 && verify_prepared_batch(&signatures) {
            out.resize(out.len() + signatures.len(), true);
        } else {
            out.extend(isolate_failures(&signatures));
        }
    }
    out
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::ed25519::SigningKey;

    /// A well-formed signature over "message", or (bad) one over another message.
    fn prepared(seed: u8, good: bool) -> PreparedSignature {
        let key = SigningKey::from_seed(&[seed; 32]);
        let signature = key.sign(if good { b"message" } else { b"another" });
        PreparedSignature::new(&key.public_key(), b"message", &signature).unwrap()
    }

    /// Requests of the given sizes, of caller `caller(request)`.
    fn candidates<'a>(sizes: &[usize], caller: impl Fn(u32) -> u32, p: &'a PreparedSignature) -> Vec<Candidate<'a>> {
        let mut out = Vec::new();
        for (request, &n) in sizes.iter().enumerate() {
            let request = u32::try_from(request).unwrap();
            for _ in 0..n {
                out.push(Candidate {
                    index: out.len(),
                    origin: Origin { caller: caller(request), request },
                    prepared: p,
                });
            }
        }
        out
    }

    fn requests_of(chunk: &[Candidate<'_>]) -> Vec<u32> {
        let mut r: Vec<u32> = chunk.iter().map(|c| c.origin.request).collect();
        r.dedup();
        r
    }

    #[test]
    fn a_large_request_shares_no_chunk_and_small_ones_are_packed() {
        let p = prepared(1, true);
        // requests: 1, 1, 64 (large), 3, 300 (large), 1
        let all = candidates(&[1, 1, 64, 3, 300, 1], |_| 7, &p);
        let chunks = chunks(&all, 128);
        let mut seen: Vec<usize> = chunks.iter().flatten().map(|c| c.index).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..all.len()).collect::<Vec<_>>(), "every candidate in exactly one chunk");
        for chunk in &chunks {
            let reqs = requests_of(chunk);
            if reqs.contains(&2) || reqs.contains(&4) {
                assert_eq!(reqs.len(), 1, "a request of 64+ proofs has chunks of its own: {reqs:?}");
                assert!(chunk.len() <= 128);
            }
        }
        let shared: Vec<Vec<u32>> = chunks.iter().map(|c| requests_of(c)).filter(|r| r.len() > 1).collect();
        assert_eq!(shared, vec![vec![0, 1, 3, 5]], "the small requests share one chunk");
        assert_eq!(chunks.iter().filter(|c| requests_of(c) == [4]).count(), 3, "300 in chunks of <= 128");
    }

    #[test]
    fn without_requests_the_chunks_are_the_plain_cut() {
        let p = prepared(1, true);
        let all = candidates(&[1000], |_| 0, &p);
        let sizes: Vec<usize> = chunks(&all, 251).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![251, 251, 251, 247]);
    }

    #[test]
    fn callers_never_share_a_chunk() {
        let p = prepared(1, true);
        // 40 single-proof requests alternating between callers 0 and 1 (as clients interleave)
        let all = candidates(&[1; 40], |request| request % 2, &p);
        let chunks = chunks(&all, 64);
        assert_eq!(chunks.len(), 2);
        for chunk in &chunks {
            let callers: std::collections::BTreeSet<u32> = chunk.iter().map(|c| c.origin.caller).collect();
            assert_eq!(callers.len(), 1, "{callers:?}");
            assert_eq!(chunk.len(), 20);
        }
    }

    #[test]
    fn a_failing_shared_chunk_is_decided_request_by_request() {
        let (good, bad) = (prepared(1, true), prepared(2, false));
        assert!(good.verify() && !bad.verify());
        // requests 0 (3 good), 1 (good, bad, good), 2 (one bad), 3 (one good)
        let members = [(0, &good), (0, &good), (0, &good), (1, &good), (1, &bad), (1, &good), (2, &bad), (3, &good)];
        let chunk: Vec<Candidate<'_>> = members
            .iter()
            .enumerate()
            .map(|(index, (request, p))| Candidate {
                index,
                origin: Origin { caller: 0, request: *request },
                prepared: p,
            })
            .collect();
        assert_eq!(verify_chunk(&chunk), vec![true, true, true, true, false, true, false, true]);
        let one_request: Vec<Candidate<'_>> =
            chunk.iter().map(|c| Candidate { origin: Origin::default(), ..*c }).collect();
        assert_eq!(verify_chunk(&one_request), vec![true, true, true, true, false, true, false, true]);
    }
}

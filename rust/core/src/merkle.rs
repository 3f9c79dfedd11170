//! RFC 6962 / RFC 9162 Merkle trees for the audit log: hashing, the append-only
//! tree, inclusion and consistency proofs, and their verification.
//!
//! `leaf_hash(d) = SHA-256(0x00 || d)`, `node_hash(l, r) = SHA-256(0x01 || l || r)`,
//! and an `n`-leaf tree splits at the largest power of two smaller than `n`:
//! the tree Certificate Transparency, Go's checksum database and Sigstore use.
//! [`Peaks`] appends leaves and keeps only the peaks (the root of one complete
//! subtree per set bit of the size), emitting every node a leaf completes in
//! post-order: the layout the audit log's node file stores ([`node_position`]).
//!
//! Proof *generation* reads only hashes of complete, aligned subtrees through a
//! node reader `(level, index) -> hash of leaves [index*2^level, (index+1)*2^level)`,
//! so a store that keeps those answers any proof with O(log^2 n) reads.
//! Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step.
//! This is the one implementation: the audit log, its auditor and the receipt
//! check all call it (the Python package through `proof_messenger._core.merkle`).

use core::fmt;

use sha2::{Digest, Sha256};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Why a proof does not verify, or why its parameters are impossible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofError(pub String);

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T, E: From<ProofError>>(detail: impl Into<String>) -> Result<T, E> {
    Err(E::from(ProofError(detail.into())))
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The peaks of a tree of `size` leaves, largest subtree first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Peaks {
    /// Leaves in the tree.
    pub size: u64,
    /// One hash per set bit of `size`, from the most significant bit down.
    pub peaks: Vec<Hash>,
}

impl Peaks {
    /// Appends one leaf hash; pushes the nodes it completes (the leaf first,
    /// then each new parent, post-order) onto `emitted`.
    pub fn append(&mut self, leaf: Hash, emitted: &mut Vec<Hash>) {
        emitted.push(leaf);
        let mut h = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            // The size's low set bits are exactly the peaks on top of the stack.
            let Some(left) = self.peaks.pop() else { break };
            h = node_hash(&left, &h);
            emitted.push(h);
            n >>= 1;
        }
        self.peaks.push(h);
        self.size += 1;
    }

    /// Appends leaves (their data, hashed here); returns each leaf's hash and
    /// every emitted node, in order.
    pub fn extend<'a>(&mut self, leaves: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Hash>, Vec<Hash>) {
        let mut hashes = Vec::new();
        let mut emitted = Vec::new();
        for data in leaves {
            let h = leaf_hash(data);
            hashes.push(h);
            self.append(h, &mut emitted);
        }
        (hashes, emitted)
    }

    /// The tree's root (SHA-256 of the empty string for no leaves).
    pub fn root(&self) -> Hash {
        let mut iter = self.peaks.iter().rev();
        let Some(last) = iter.next() else { return empty_root() };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// Post-order position of a complete subtree's node in an append-only node
/// file: the order in which [`Peaks::append`] emits nodes (a Merkle mountain
/// range's layout). Leaf `i` is at `2i - popcount(i)`.
pub fn node_position(level: u32, index: u64) -> u64 {
    let last = ((index + 1) << level) - 1;
    2 * last - u64::from(last.count_ones()) + u64::from(level)
}

/// Nodes a `size`-leaf tree stores: every complete subtree once.
pub fn node_count(size: u64) -> u64 {
    2 * size - u64::from(size.count_ones())
}

/// The largest power of two strictly smaller than `n` (n >= 2).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH of the leaves `[start, end)`: the aligned complete subtrees in the range,
/// read through `node`, folded right to left. O(log n) reads.
pub fn range_hash<E>(node: &mut dyn FnMut(u32, u64) -> Result<Hash, E>, start: u64, end: u64) -> Result<Hash, E> {
    let width = end.saturating_sub(start);
    if width > 0 && width.is_power_of_two() && start % width == 0 {
        return node(width.trailing_zeros(), start / width);
    }
    let mut parts: Vec<Hash> = Vec::new();
    let mut start = start;
    while start < end {
        let mut level = 63 - (end - start).leading_zeros();
        while start & ((1u64 << level) - 1) != 0 {
            level -= 1;
        }
        parts.push(node(level, start >> level)?);
        start += 1 << level;
    }
    let mut iter = parts.iter().rev();
    let Some(last) = iter.next() else { return Ok(empty_root()) };
    Ok(iter.fold(*last, |acc, left| node_hash(left, &acc)))
}

/// The root of the tree of `size` leaves.
pub fn root_hash<E>(node: &mut dyn FnMut(u32, u64) -> Result<Hash, E>, size: u64) -> Result<Hash, E> {
    range_hash(node, 0, size)
}

/// RFC 6962 PATH(index, D[0:size]), leaf side first.
pub fn inclusion_proof<E: From<ProofError>>(
    node: &mut dyn FnMut(u32, u64) -> Result<Hash, E>,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, E> {
    if index >= size {
        return fail(format!("index {index} is not in a tree of size {size}"));
    }
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    // Down from the root, then reversed: the proof lists the siblings bottom up.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            path.push(range_hash(node, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(node, lo, lo + k)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 6962 PROOF(old_size, D[0:new_size]); empty when `old_size` is 0 or equal.
pub fn consistency_proof<E: From<ProofError>>(
    node: &mut dyn FnMut(u32, u64) -> Result<Hash, E>,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, E> {
    if old_size > new_size {
        return fail(format!("no consistency proof from size {old_size} to {new_size}"));
    }
    if old_size == 0 || old_size == new_size {
        return Ok(Vec::new());
    }
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m, mut complete) = (0u64, new_size, old_size, true);
    loop {
        let n = hi - lo;
        if m == n {
            if !complete {
                path.push(range_hash(node, lo, hi)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            path.push(range_hash(node, lo + k, hi)?);
            hi = lo + k;
        } else {
            path.push(range_hash(node, lo, lo + k)?);
            lo += k;
            m -= k;
            complete = false;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 9162 2.1.3.2: the root that `proof` implies for the leaf hash `leaf` at `index`.
pub fn root_from_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash]) -> Result<Hash, ProofError> {
    if index >= size {
        return fail(format!("index {index} is not in a tree of size {size}"));
    }
    let (mut fn_, mut sn, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if sn == 0 {
            return fail("inclusion proof is too long");
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return fail("inclusion proof is too short");
    }
    Ok(r)
}

/// Fails unless `leaf` is at `index` of the tree `(size, root)`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if root_from_inclusion(leaf, index, size, proof)? != *root {
        return fail("inclusion proof does not lead to the root");
    }
    Ok(())
}

/// RFC 9162 2.1.4.2: fails unless `(new_size, new_root)` extends `(old_size, old_root)`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> Result<(), ProofError> {
    if old_size > new_size {
        return fail(format!("size {new_size} cannot follow size {old_size}"));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return fail("proof between equal sizes must be empty");
        }
        if old_root != new_root {
            return fail("same size, different roots");
        }
        return Ok(());
    }
    if old_size == 0 {
        if !proof.is_empty() {
            return fail("proof from the empty tree must be empty");
        }
        return Ok(());
    }
    let Some((&first, rest)) = proof.split_first() else { return fail("empty consistency proof") };
    // A power-of-two old tree is a node of the new one: its root is the path's start.
    let (start, rest): (Hash, &[Hash]) = if old_size.is_power_of_two() { (*old_root, proof) } else { (first, rest) };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if sn == 0 {
            return fail("consistency proof is too long");
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return fail("consistency proof is too short");
    }
    if fr != *old_root {
        return fail("consistency proof does not lead to the old root");
    }
    if sr != *new_root {
        return fail("consistency proof does not lead to the new root");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    /// RFC 9162's recursive definition, for comparison.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest(b"").into(),
            1 => leaves[0],
            n => {
                let k = 1usize << (usize::BITS - (n - 1).leading_zeros() - 1);
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn roots_match_the_recursive_definition_at_every_size() {
        let data: Vec<Vec<u8>> = (0u8..70).map(|i| vec![i; usize::from(i % 7)]).collect();
        let mut peaks = Peaks::default();
        let mut hashes = Vec::new();
        assert_eq!(peaks.root(), mth(&[]));
        for d in &data {
            let (h, _) = peaks.extend([d.as_slice()]);
            hashes.extend(h);
            assert_eq!(peaks.root(), mth(&hashes), "size {}", hashes.len());
            assert_eq!(peaks.peaks.len(), peaks.size.count_ones() as usize);
        }
    }

    #[test]
    fn one_extend_equals_many_appends() {
        let data: Vec<Vec<u8>> = (0u8..33).map(|i| vec![i, i]).collect();
        let mut a = Peaks::default();
        let (ha, ea) = a.extend(data.iter().map(Vec::as_slice));
        let mut b = Peaks::default();
        let mut eb = Vec::new();
        let mut hb = Vec::new();
        for d in &data {
            let (h, e) = b.extend([d.as_slice()]);
            hb.extend(h);
            eb.extend(e);
        }
        assert_eq!((a, ha, ea.len()), (b, hb, eb.len()));
        // a tree of n leaves has 2n - 1 nodes when n is a power of two; 33 leaves: 32's 63 + 1 leaf
        assert_eq!(ea.len(), 64);
    }

    #[test]
    fn rfc6962_empty_and_single_leaf() {
        // SHA-256("") and SHA-256(0x00) (RFC 6962 test data, the empty leaf).
        assert_eq!(hex(&Peaks::default().root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex(&leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 6962 2.1.1 PATH(m, D[n]), recursively.
    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = 1usize << (usize::BITS - (n - 1).leading_zeros() - 1);
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    /// RFC 6962 2.1.2 SUBPROOF(m, D[n], b), recursively.
    fn subproof(m: usize, leaves: &[Hash], complete: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if complete { Vec::new() } else { vec![mth(leaves)] };
        }
        let k = 1usize << (usize::BITS - (n - 1).leading_zeros() - 1);
        if m <= k {
            let mut p = subproof(m, &leaves[..k], complete);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = subproof(m - k, &leaves[k..], false);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    /// A tree of `n` leaves with every node kept, and a reader over it.
    fn tree(n: u64) -> (Vec<Hash>, Vec<Hash>) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut peaks = Peaks::default();
        let mut nodes = Vec::new();
        for h in &leaves {
            peaks.append(*h, &mut nodes);
        }
        (leaves, nodes)
    }

    fn reader(nodes: &[Hash]) -> impl FnMut(u32, u64) -> Result<Hash, ProofError> + '_ {
        |level, index| {
            usize::try_from(node_position(level, index))
                .ok()
                .and_then(|p| nodes.get(p).copied())
                .ok_or_else(|| ProofError(format!("no node ({level}, {index})")))
        }
    }

    #[test]
    fn node_positions_are_the_post_order_of_append() {
        let (_, nodes) = tree(37);
        assert_eq!(node_count(37), nodes.len() as u64);
        let mut read = reader(&nodes);
        for level in 0..6u32 {
            for index in 0..(37u64 >> level) {
                let start = index << level;
                let (leaves, _) = tree(37);
                let want = mth(&leaves[start as usize..(start + (1 << level)) as usize]);
                assert_eq!(read(level, index).unwrap(), want, "({level}, {index})");
            }
        }
    }

    #[test]
    fn every_inclusion_proof_of_every_size_is_rfc6962_path_and_verifies() {
        for n in 1..=40u64 {
            let (leaves, nodes) = tree(n);
            let root = mth(&leaves);
            let mut read = reader(&nodes);
            assert_eq!(root_hash(&mut read, n).unwrap(), root);
            for m in 0..n {
                let proof = inclusion_proof(&mut read, m, n).unwrap();
                assert_eq!(proof, path(m as usize, &leaves), "PATH({m}, {n})");
                verify_inclusion(&leaves[m as usize], m, n, &proof, &root).unwrap();
                // Any change is refused: another leaf, index or size; a proof one hash short or long.
                let other = leaf_hash(b"other");
                assert!(verify_inclusion(&other, m, n, &proof, &root).is_err());
                if n > 1 {
                    assert!(verify_inclusion(&leaves[m as usize], (m + 1) % n, n, &proof, &root).is_err());
                    assert!(verify_inclusion(&leaves[m as usize], m, n, &proof[1..], &root).is_err());
                }
                let mut longer = proof.clone();
                longer.push(root);
                assert!(verify_inclusion(&leaves[m as usize], m, n, &longer, &root).is_err());
            }
            assert!(inclusion_proof(&mut read, n, n).is_err());
        }
    }

    #[test]
    fn every_consistency_proof_of_every_pair_of_sizes_is_rfc6962_and_verifies() {
        for n in 1..=33u64 {
            let (leaves, nodes) = tree(n);
            let mut read = reader(&nodes);
            let new_root = mth(&leaves);
            for m in 0..=n {
                let old_root = mth(&leaves[..m as usize]);
                let proof = consistency_proof(&mut read, m, n).unwrap();
                let want = if m == 0 || m == n { Vec::new() } else { subproof(m as usize, &leaves, true) };
                assert_eq!(proof, want, "PROOF({m}, {n})");
                verify_consistency(m, n, &proof, &old_root, &new_root).unwrap();
                if 0 < m && m < n {
                    let forged = leaf_hash(b"forged");
                    assert!(verify_consistency(m, n, &proof, &forged, &new_root).is_err());
                    assert!(verify_consistency(m, n, &proof, &old_root, &forged).is_err());
                    assert!(verify_consistency(m, n, &proof[1..], &old_root, &new_root).is_err());
                    let mut longer = proof.clone();
                    longer.push(new_root);
                    assert!(verify_consistency(m, n, &longer, &old_root, &new_root).is_err());
                }
            }
            assert!(consistency_proof(&mut read, n + 1, n).is_err());
        }
        let r = mth(&[]);
        assert!(verify_consistency(2, 1, &[], &r, &r).is_err());
        assert!(verify_consistency(3, 3, &[r], &r, &r).is_err(), "equal sizes take an empty proof");
        assert!(verify_consistency(0, 3, &[r], &r, &r).is_err(), "from the empty tree: an empty proof");
        assert!(verify_consistency(1, 3, &[], &r, &r).is_err());
        assert!(verify_consistency(4, 4, &[], &r, &leaf_hash(b"x")).is_err(), "same size, another root");
    }

    #[test]
    fn range_hash_of_any_range() {
        let (leaves, nodes) = tree(29);
        let mut read = reader(&nodes);
        // The ranges proofs hash: a prefix, or a range starting at a multiple of the
        // smallest power of two that is at least its width (a subtree of some tree size).
        for start in 0..29u64 {
            for end in start..=29u64 {
                let width = end - start;
                if start != 0 && start % width.max(1).next_power_of_two() != 0 {
                    continue;
                }
                let want = mth(&leaves[start as usize..end as usize]);
                assert_eq!(range_hash(&mut read, start, end).unwrap(), want, "[{start}, {end})");
            }
        }
    }
}

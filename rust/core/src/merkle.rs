//! RFC 9162 (Certificate Transparency v2) Merkle tree hashing for the audit log.
//!
//! `leaf_hash(d) = SHA-256(0x00 || d)`, `node_hash(l, r) = SHA-256(0x01 || l || r)`.
//! [`Peaks`] appends leaves to a tree and keeps only its peaks (the root of one
//! complete subtree per set bit of the size), emitting every node a leaf
//! completes in post-order: the layout the audit log's node file stores
//! (docs/AUDIT_LOG.md). The Python audit log appends a request group's
//! entries with one call to [`Peaks::extend`].

use sha2::{Digest, Sha256};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

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
        let Some(last) = iter.next() else { return Sha256::digest(b"").into() };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
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
}

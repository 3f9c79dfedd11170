"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification.

The tree over leaves ``d0 .. d(n-1)`` is the one Certificate Transparency,
Go's checksum database and Sigstore use: ``leaf_hash(d) = SHA-256(0x00 || d)``,
``node_hash(l, r) = SHA-256(0x01 || l || r)``, and an ``n``-leaf tree splits
at the largest power of two smaller than ``n``.

Proof *generation* reads only hashes of complete, aligned subtrees through a
:data:`NodeReader` ``(level, index) -> hash of leaves [index*2^level,
(index+1)*2^level)``, so a store that keeps those (see ``store.py``) answers
any proof with O(log n) reads. Verification follows RFC 9162 sections
2.1.3.2 and 2.1.4.2 step by step.

>>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
>>> builder = TreeBuilder(keep_nodes=True)
>>> for h in leaves:
...     _ = builder.append(h)
>>> proof = inclusion_proof(builder.node_reader(), 3, 5)
>>> verify_inclusion(leaves[3], 3, 5, proof, builder.root())
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from proof_messenger._core import merkle_extend

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeReader = Callable[[int, int], bytes]


class ProofError(ValueError):
    """A proof does not verify, or its parameters are impossible."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(node: NodeReader, start: int, end: int) -> bytes:
    """MTH of leaves ``[start, end)`` where that range is a node of the tree
    (``start`` aligned to a power of two >= ``end - start``): the aligned
    complete subtrees in it, folded right to left. O(log n) reads."""
    width = end - start
    if width > 0 and width & (width - 1) == 0 and start % width == 0:  # one complete subtree
        return node(width.bit_length() - 1, start // width)
    parts: list[bytes] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        parts.append(node(level, start >> level))
        start += 1 << level
    if not parts:
        return EMPTY_ROOT
    acc = parts[-1]
    for h in reversed(parts[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_hash(node: NodeReader, size: int) -> bytes:
    return range_hash(node, 0, size)


def inclusion_proof(node: NodeReader, index: int, size: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]), leaf-side first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    # Walk down from the root, then reverse: the proof lists siblings bottom-up.
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(range_hash(node, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(node, lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def consistency_proof(node: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """RFC 6962 PROOF(old_size, D[0:new_size]); empty when old is 0 or equal."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                path.append(range_hash(node, lo, hi))
            break
        k = _split(n)
        if m <= k:
            path.append(range_hash(node, lo + k, hi))
            hi = lo + k
        else:
            path.append(range_hash(node, lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    path.reverse()
    return path


def _check_hash(h: bytes, what: str) -> None:
    if len(h) != HASH_SIZE:
        raise ProofError(f"{what} is {len(h)} bytes, not {HASH_SIZE}")


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root that ``proof`` implies for ``leaf`` at ``index``."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} is not in a tree of size {size}")
    _check_hash(leaf, "leaf hash")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check_hash(p, "proof hash")
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raises :class:`ProofError` unless ``leaf`` is at ``index`` of the tree ``(size, root)``."""
    _check_hash(root, "root hash")
    if root_from_inclusion(leaf, index, size, proof) != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 2.1.4.2: raises :class:`ProofError` unless ``(new_size, new_root)``
    extends ``(old_size, old_root)``."""
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    if not 0 <= old_size <= new_size:
        raise ProofError(f"size {new_size} cannot follow size {old_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("same size, different roots")
        return
    if old_size == 0:
        if proof:
            raise ProofError("proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    for p in proof:
        _check_hash(p, "proof hash")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")


# --- incremental tree -------------------------------------------------------------------------


def node_position(level: int, index: int) -> int:
    """Post-order position of a complete subtree's node in an append-only node
    file: the order in which :meth:`TreeBuilder.append` emits nodes (the layout
    of a Merkle mountain range). Leaf ``i`` is at ``2i - popcount(i)``."""
    last = ((index + 1) << level) - 1
    return 2 * last - last.bit_count() + level


def node_count(size: int) -> int:
    """Nodes a ``size``-leaf tree stores: every complete subtree once."""
    return 2 * size - size.bit_count()


class TreeBuilder:
    """Appends leaf hashes and keeps the peaks (one complete subtree per set
    bit of the size), so the root of the current size costs O(log n) hashes.

    ``append`` returns the nodes the leaf completes, in post-order: written to
    a file in that order they are the layout :func:`node_position` addresses.
    ``nodes`` (optional) keeps every emitted node in memory for proofs.
    """

    def __init__(self, *, keep_nodes: bool = False) -> None:
        self.size = 0
        self._peaks: list[bytes] = []
        self.nodes: bytearray | None = bytearray() if keep_nodes else None

    @classmethod
    def resume(cls, node: NodeReader, size: int) -> TreeBuilder:
        """A builder positioned at ``size`` whose peaks come from ``node``."""
        b = cls()
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                b._peaks.append(node(level, start >> level))
                start += 1 << level
        b.size = size
        return b

    def append(self, leaf: bytes) -> list[bytes]:
        emitted = [leaf]
        h, n = leaf, self.size
        while n & 1:
            h = node_hash(self._peaks.pop(), h)
            emitted.append(h)
            n >>= 1
        self._peaks.append(h)
        self.size += 1
        if self.nodes is not None:
            for e in emitted:
                self.nodes += e
        return emitted

    def extend(self, leaves: Sequence[bytes]) -> tuple[list[bytes], bytes]:
        """Appends entries (their bytes, hashed here) in one native call; returns
        their leaf hashes and every node they complete, concatenated in the order
        :meth:`append` emits them."""
        hashes, nodes, self._peaks = merkle_extend(self.size, self._peaks, list(leaves))
        self.size += len(hashes)
        if self.nodes is not None:
            self.nodes += nodes
        return hashes, nodes

    def state(self) -> tuple[int, tuple[bytes, ...]]:
        return self.size, tuple(self._peaks)

    def restore(self, state: tuple[int, tuple[bytes, ...]]) -> None:
        self.size, self._peaks = state[0], list(state[1])

    def root(self) -> bytes:
        if not self._peaks:
            return EMPTY_ROOT
        acc = self._peaks[-1]
        for h in reversed(self._peaks[:-1]):
            acc = node_hash(h, acc)
        return acc

    def node_reader(self) -> NodeReader:
        """Reads complete subtrees kept in memory (``keep_nodes=True``)."""
        nodes = self.nodes
        if nodes is None:
            raise ValueError("this builder does not keep its nodes")

        def read(level: int, index: int) -> bytes:
            pos = node_position(level, index) * HASH_SIZE
            return bytes(nodes[pos : pos + HASH_SIZE])

        return read

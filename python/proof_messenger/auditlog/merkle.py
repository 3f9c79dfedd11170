"""RFC 6962 / RFC 9162 Merkle trees: the core's implementation (``proof_messenger._core.merkle``).

The tree over leaves ``d0 .. d(n-1)`` is the one Certificate Transparency,
Go's checksum database and Sigstore use: ``leaf_hash(d) = SHA-256(0x00 || d)``,
``node_hash(l, r) = SHA-256(0x01 || l || r)``, and an ``n``-leaf tree splits
at the largest power of two smaller than ``n``.

Proof *generation* reads only hashes of complete, aligned subtrees through a
:data:`NodeReader` ``(level, index) -> hash of leaves [index*2^level,
(index+1)*2^level)``, so a store that keeps those (see ``store.py``) answers
any proof with O(log^2 n) reads. Verification follows RFC 9162 sections
2.1.3.2 and 2.1.4.2. Every function here is the Rust core's (rust/core/src/merkle.rs);
this module only names them for the log, its auditor and the receipt check, and
turns a failed verification into :class:`ProofError`.

>>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
>>> builder = TreeBuilder(keep_nodes=True)
>>> for h in leaves:
...     _ = builder.append(h)
>>> proof = inclusion_proof(builder.node_reader(), 3, 5)
>>> verify_inclusion(leaves[3], 3, 5, proof, builder.root())
>>> verify_inclusion(leaves[2], 3, 5, proof, builder.root())
Traceback (most recent call last):
...
proof_messenger.auditlog.merkle.ProofError: inclusion proof does not lead to the root
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from proof_messenger._core import merkle as _merkle

HASH_SIZE = 32
EMPTY_ROOT: bytes = _merkle.EMPTY_ROOT

NodeReader = Callable[[int, int], bytes]

leaf_hash = _merkle.leaf_hash
node_hash = _merkle.node_hash
node_position = _merkle.node_position
node_count = _merkle.node_count
range_hash = _merkle.range_hash
root_hash = _merkle.root_hash


class ProofError(ValueError):
    """A proof does not verify, or its parameters are impossible."""


def inclusion_proof(node: NodeReader, index: int, size: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]), leaf side first (ValueError: ``index`` is not in the tree)."""
    if index < 0 or size < 0:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    return _merkle.inclusion_proof(node, index, size)


def consistency_proof(node: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    """RFC 6962 PROOF(old_size, D[0:new_size]); empty when old is 0 or equal."""
    if old_size < 0 or new_size < 0:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    return _merkle.consistency_proof(node, old_size, new_size)


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root that ``proof`` implies for ``leaf`` at ``index``."""
    try:
        return _merkle.root_from_inclusion(leaf, index, size, list(proof))
    except (ValueError, OverflowError) as exc:  # OverflowError: a negative index or size
        raise ProofError(str(exc)) from None


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Raises :class:`ProofError` unless ``leaf`` is at ``index`` of the tree ``(size, root)``."""
    try:
        _merkle.verify_inclusion(leaf, index, size, list(proof), root)
    except (ValueError, OverflowError) as exc:  # OverflowError: a negative index or size
        raise ProofError(str(exc)) from None


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 2.1.4.2: raises :class:`ProofError` unless ``(new_size, new_root)``
    extends ``(old_size, old_root)``."""
    try:
        _merkle.verify_consistency(old_size, new_size, list(proof), old_root, new_root)
    except (ValueError, OverflowError) as exc:  # OverflowError: a negative size
        raise ProofError(str(exc)) from None


class TreeBuilder:
    """Appends leaves and keeps the peaks (one complete subtree per set bit of
    the size), so the root of the current size costs O(log n) hashes.

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
        """Appends one leaf hash; returns the nodes it completes (the leaf first)."""
        nodes, self._peaks = _merkle.append(self.size, self._peaks, leaf)
        self.size += 1
        if self.nodes is not None:
            self.nodes += nodes
        return [nodes[k : k + HASH_SIZE] for k in range(0, len(nodes), HASH_SIZE)]

    def extend(self, leaves: Sequence[bytes]) -> tuple[list[bytes], bytes]:
        """Appends entries (their bytes, hashed here) in one native call; returns
        their leaf hashes and every node they complete, concatenated in the order
        :meth:`append` emits them."""
        hashes, nodes, self._peaks = _merkle.extend(self.size, self._peaks, list(leaves))
        self.size += len(hashes)
        if self.nodes is not None:
            self.nodes += nodes
        return hashes, nodes

    def state(self) -> tuple[int, tuple[bytes, ...]]:
        return self.size, tuple(self._peaks)

    def restore(self, state: tuple[int, tuple[bytes, ...]]) -> None:
        self.size, self._peaks = state[0], list(state[1])

    def root(self) -> bytes:
        return _merkle.peaks_root(self.size, self._peaks)

    def node_reader(self) -> NodeReader:
        """Reads complete subtrees kept in memory (``keep_nodes=True``)."""
        nodes = self.nodes
        if nodes is None:
            raise ValueError("this builder does not keep its nodes")

        def read(level: int, index: int) -> bytes:
            pos = node_position(level, index) * HASH_SIZE
            return bytes(nodes[pos : pos + HASH_SIZE])

        return read

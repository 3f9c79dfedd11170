"""RFC 6962 / RFC 9162 tree hashes and proofs: known answers, an independent
implementation, corrupted proofs, and property tests at random sizes."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from proof_messenger.auditlog import merkle

from . import reference as ref
from .vectors import EMPTY_ROOT, MERKLE_CONSISTENCY, MERKLE_INCLUSION, MERKLE_LEAVES, MERKLE_ROOTS


def tree(leaves: list[bytes]) -> merkle.TreeBuilder:
    b = merkle.TreeBuilder(keep_nodes=True)
    for leaf in leaves:
        b.append(merkle.leaf_hash(leaf))
    return b


def h(hexes: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


KAT_TREE = tree(MERKLE_LEAVES)
KAT_NODES = KAT_TREE.node_reader()


def test_empty_tree_root() -> None:
    assert merkle.EMPTY_ROOT.hex() == EMPTY_ROOT
    assert merkle.TreeBuilder().root().hex() == EMPTY_ROOT
    assert merkle.root_hash(KAT_NODES, 0).hex() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_known_roots(size: int) -> None:
    assert tree(MERKLE_LEAVES[:size]).root().hex() == MERKLE_ROOTS[size - 1]
    assert merkle.root_hash(KAT_NODES, size).hex() == MERKLE_ROOTS[size - 1]
    assert ref.mth(MERKLE_LEAVES[:size]).hex() == MERKLE_ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "proof"), MERKLE_INCLUSION)
def test_known_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    assert merkle.inclusion_proof(KAT_NODES, index, size) == h(proof)
    assert ref.path(index, MERKLE_LEAVES[:size]) == h(proof)
    root = bytes.fromhex(MERKLE_ROOTS[size - 1])
    merkle.verify_inclusion(merkle.leaf_hash(MERKLE_LEAVES[index]), index, size, h(proof), root)


@pytest.mark.parametrize(("old", "new", "proof"), MERKLE_CONSISTENCY)
def test_known_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    assert merkle.consistency_proof(KAT_NODES, old, new) == h(proof)
    assert ref.proof(old, MERKLE_LEAVES[:new]) == h(proof)
    merkle.verify_consistency(
        old, new, h(proof), bytes.fromhex(MERKLE_ROOTS[old - 1]), bytes.fromhex(MERKLE_ROOTS[new - 1])
    )


def _inclusion_probes(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes) -> list[tuple]:
    """The corruptions transparency-dev/merkle's verifierCheck applies (they must all fail)."""
    some = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, b"WrongLeaf", proof),
        (index, size, merkle.EMPTY_ROOT, leaf, proof),
        (index, size, some, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((index, size, root, leaf, bad))
    if proof:
        probes.append((index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append((index, size, root, leaf, [proof[0], some, *proof[1:]]))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), [v for v in MERKLE_INCLUSION if v[1] > 1])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[str]) -> None:
    root = bytes.fromhex(MERKLE_ROOTS[size - 1])
    leaf = merkle.leaf_hash(MERKLE_LEAVES[index])
    for i, s, r, lf, p in _inclusion_probes(index, size, h(proof), root, leaf):
        if (i, s, r, lf, p) == (index, size, root, leaf, h(proof)):
            continue
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(lf, i, s, p, r)


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in MERKLE_CONSISTENCY if v[2]])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[str]) -> None:
    r1, r2 = bytes.fromhex(MERKLE_ROOTS[old - 1]), bytes.fromhex(MERKLE_ROOTS[new - 1])
    p = h(proof)
    probes = [
        (old - 1, new, r1, r2, p),
        (old + 1, new, r1, r2, p),
        (old ^ 2, new, r1, r2, p),
        (old, new * 2, r1, r2, p),
        (old, new // 2, r1, r2, p),
        (old, new, b"WrongRoot", r2, p),
        (old, new, r1, b"WrongRoot", p),
        (old, new, r2, r1, p),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*p, b""]),
        (old, new, r1, r2, [*p, r1]),
        (old, new, r1, r2, [*p, r2]),
        (old, new, r1, r2, [b"", *p]),
        (old, new, r1, r2, [r1, *p]),
        (old, new, r1, r2, [r2, *p]),
        (old, new, r1, r2, [p[0], *p]),
        (old, new, r1, r2, p[:-1]),
    ]
    for i in range(len(p)):
        bad = list(p)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((old, new, r1, r2, bad))
    for a, b, x, y, q in probes:
        if a in (0, b) and not q and x == y:
            continue  # trivially consistent
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(a, b, q, x, y)


def test_trivial_consistency_cases() -> None:
    r1, r2 = merkle.EMPTY_ROOT, hashlib.sha256(b"x").digest()
    merkle.verify_consistency(0, 0, [], r1, r1)
    merkle.verify_consistency(0, 5, [], r1, r2)  # everything extends the empty tree
    merkle.verify_consistency(3, 3, [], r2, r2)
    for args in [
        (1, 0, [], r1, r2),
        (3, 3, [], r1, r2),
        (0, 0, [r1], r1, r1),
        (1, 1, [r1], r2, r2),
        (1, 2, [], r1, r2),
    ]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(*args)


def test_impossible_proof_requests() -> None:
    with pytest.raises(ValueError):
        merkle.inclusion_proof(KAT_NODES, 8, 8)
    with pytest.raises(ValueError):
        merkle.consistency_proof(KAT_NODES, 5, 4)
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(merkle.EMPTY_ROOT, 0, 0, [], merkle.EMPTY_ROOT)


def test_node_layout_is_post_order() -> None:
    """The builder emits nodes in exactly the order node_position() addresses."""
    b = merkle.TreeBuilder(keep_nodes=True)
    emitted: list[bytes] = []
    leaves = [bytes([i]) for i in range(37)]
    for leaf in leaves:
        emitted += b.append(merkle.leaf_hash(leaf))
    assert len(emitted) == merkle.node_count(37)
    for level in range(6):
        for index in range(37 >> level):
            lo, hi = index << level, (index + 1) << level
            assert emitted[merkle.node_position(level, index)] == ref.mth(leaves[lo:hi])


def test_resume_continues_the_same_tree() -> None:
    leaves = [bytes([i]) for i in range(23)]
    full = tree(leaves)
    for size in range(24):
        b = merkle.TreeBuilder.resume(full.node_reader(), size)
        assert b.root() == ref.mth(leaves[:size])
        for leaf in leaves[size:]:
            b.append(merkle.leaf_hash(leaf))
        assert b.root() == full.root()


sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=150, deadline=None)
@given(size=sizes, data=st.data())
def test_proofs_match_reference_at_random_sizes(size: int, data: st.DataObject) -> None:
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    t = tree(leaves)
    nodes = t.node_reader()
    assert t.root() == ref.mth(leaves)
    index = data.draw(st.integers(0, size - 1))
    p = merkle.inclusion_proof(nodes, index, size)
    assert p == ref.path(index, leaves)
    merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, p, t.root())
    old = data.draw(st.integers(0, size))
    c = merkle.consistency_proof(nodes, old, size)
    assert c == ref.proof(old, leaves)
    merkle.verify_consistency(old, size, c, ref.mth(leaves[:old]), t.root())


@settings(max_examples=150, deadline=None)
@given(size=st.integers(2, 200), data=st.data())
def test_wrong_proofs_fail_at_random_sizes(size: int, data: st.DataObject) -> None:
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    t = tree(leaves)
    nodes = t.node_reader()
    index = data.draw(st.integers(0, size - 1))
    p = merkle.inclusion_proof(nodes, index, size)
    other = data.draw(st.integers(0, size - 1).filter(lambda j: j != index))
    with pytest.raises(merkle.ProofError):  # another leaf's hash at this position
        merkle.verify_inclusion(merkle.leaf_hash(leaves[other]), index, size, p, t.root())
    if p:
        k = data.draw(st.integers(0, len(p) - 1))
        bad = list(p)
        bad[k] = hashlib.sha256(bad[k]).digest()
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(merkle.leaf_hash(leaves[index]), index, size, bad, t.root())
    old = data.draw(st.integers(1, size - 1))
    c = merkle.consistency_proof(nodes, old, size)
    forged = ref.mth([b"forged", *leaves[1:old]])  # a different history of the same size
    with pytest.raises(merkle.ProofError):
        merkle.verify_consistency(old, size, c, forged, t.root())


def test_proof_generation_reads_o_log_n_nodes() -> None:
    """A proof reads O(log n) stored nodes, whatever the size (the point of tree.bin)."""
    leaves = [i.to_bytes(4, "big") for i in range(5000)]
    t = tree(leaves)
    base = t.node_reader()
    reads = 0

    def counting(level: int, index: int) -> bytes:
        nonlocal reads
        reads += 1
        return base(level, index)

    for size in (1000, 4097, 5000):
        for index in (0, size // 3, size - 1):
            reads = 0
            merkle.inclusion_proof(counting, index, size)
            assert reads <= 2 * size.bit_length()
            reads = 0
            merkle.consistency_proof(counting, max(1, index), size)
            assert reads <= 2 * size.bit_length()


@pytest.mark.parametrize("size", range(1, 9))
def test_native_extend_gives_the_known_roots(size: int) -> None:
    b = merkle.TreeBuilder()
    hashes, _ = b.extend(MERKLE_LEAVES[:size])
    assert b.root().hex() == MERKLE_ROOTS[size - 1]
    assert hashes == [merkle.leaf_hash(leaf) for leaf in MERKLE_LEAVES[:size]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.binary(max_size=40), max_size=20), max_size=8))
def test_native_extend_equals_appending_leaf_by_leaf(groups: list[list[bytes]]) -> None:
    # The audit log appends a group with TreeBuilder.extend (one native call); the
    # Python append is the reference: same leaf hashes, same nodes in the same order.
    native, python = merkle.TreeBuilder(keep_nodes=True), merkle.TreeBuilder(keep_nodes=True)
    for group in groups:
        hashes, nodes = native.extend(group)
        expected_hashes = [merkle.leaf_hash(leaf) for leaf in group]
        expected_nodes = b"".join(n for h in expected_hashes for n in python.append(h))
        assert (hashes, nodes) == (expected_hashes, expected_nodes)
        assert native.state() == python.state() and native.root() == python.root()
    assert native.nodes == python.nodes

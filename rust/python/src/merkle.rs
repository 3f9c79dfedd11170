//! `proof_messenger._core.merkle`: the core's RFC 6962 Merkle tree for the audit log.
//!
//! Node readers are Python callables `(level, index) -> bytes` (32 bytes);
//! an exception they raise passes through unchanged. A proof that does not
//! verify, or impossible parameters, raise `ValueError` (the audit log's
//! `merkle.ProofError` wraps it).
use proof_messenger_core::merkle::{self, Hash, Peaks, ProofError};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A proof error of the core, or an exception of the Python node reader.
enum Failure {
    Proof(ProofError),
    Python(PyErr),
}

impl From<ProofError> for Failure {
    fn from(e: ProofError) -> Failure {
        Failure::Proof(e)
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        match f {
            Failure::Proof(e) => PyValueError::new_err(e.0),
            Failure::Python(e) => e,
        }
    }
}

fn hash(data: &[u8], what: &str) -> PyResult<Hash> {
    Hash::try_from(data).map_err(|_| PyValueError::new_err(format!("{what} is {} bytes, not 32", data.len())))
}

fn hashes(items: &[Vec<u8>], what: &str) -> PyResult<Vec<Hash>> {
    items.iter().map(|h| hash(h, what)).collect()
}

fn to_list<'py>(py: Python<'py>, hashes: &[Hash]) -> Vec<Bound<'py, PyBytes>> {
    hashes.iter().map(|h| PyBytes::new(py, h)).collect()
}

/// Runs `f` with a node reader over the Python callable `node`.
fn with_reader<T>(
    node: &Bound<'_, PyAny>,
    f: impl FnOnce(&mut dyn FnMut(u32, u64) -> Result<Hash, Failure>) -> Result<T, Failure>,
) -> PyResult<T> {
    let mut read = |level: u32, index: u64| -> Result<Hash, Failure> {
        let out = node.call1((level, index)).map_err(Failure::Python)?;
        let data: Vec<u8> = out.extract().map_err(Failure::Python)?;
        hash(&data, "a node").map_err(Failure::Python)
    };
    f(&mut read).map_err(PyErr::from)
}

/// `SHA-256(0x00 || data)`.
#[pyfunction]
fn leaf_hash<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &merkle::leaf_hash(data))
}

/// `SHA-256(0x01 || left || right)`.
#[pyfunction]
fn node_hash<'py>(py: Python<'py>, left: &[u8], right: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &merkle::node_hash(&hash(left, "left")?, &hash(right, "right")?)))
}

/// Post-order position of the node `(level, index)` in the node file.
#[pyfunction]
fn node_position(level: u32, index: u64) -> PyResult<u64> {
    if level > 62 || index >= (1u64 << (62 - level)) {
        return Err(PyValueError::new_err("node out of range"));
    }
    Ok(merkle::node_position(level, index))
}

/// Nodes a tree of `size` leaves stores.
#[pyfunction]
fn node_count(size: u64) -> PyResult<u64> {
    if size >= 1 << 62 {
        return Err(PyValueError::new_err("size out of range"));
    }
    Ok(merkle::node_count(size))
}

/// MTH of the leaves `[start, end)` (a range that is a node of some tree size).
#[pyfunction]
fn range_hash<'py>(py: Python<'py>, node: &Bound<'py, PyAny>, start: u64, end: u64) -> PyResult<Bound<'py, PyBytes>> {
    let h = with_reader(node, |read| merkle::range_hash(read, start, end))?;
    Ok(PyBytes::new(py, &h))
}

/// The root of the tree of `size` leaves.
#[pyfunction]
fn root_hash<'py>(py: Python<'py>, node: &Bound<'py, PyAny>, size: u64) -> PyResult<Bound<'py, PyBytes>> {
    let h = with_reader(node, |read| merkle::root_hash(read, size))?;
    Ok(PyBytes::new(py, &h))
}

/// RFC 6962 PATH(index, D[0:size]), leaf side first.
#[pyfunction]
fn inclusion_proof<'py>(
    py: Python<'py>,
    node: &Bound<'py, PyAny>,
    index: u64,
    size: u64,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let proof = with_reader(node, |read| merkle::inclusion_proof(read, index, size))?;
    Ok(to_list(py, &proof))
}

/// RFC 6962 PROOF(old_size, D[0:new_size]).
#[pyfunction]
fn consistency_proof<'py>(
    py: Python<'py>,
    node: &Bound<'py, PyAny>,
    old_size: u64,
    new_size: u64,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let proof = with_reader(node, |read| merkle::consistency_proof(read, old_size, new_size))?;
    Ok(to_list(py, &proof))
}

/// The root an inclusion proof implies for `leaf` at `index` of a tree of `size`.
#[pyfunction]
fn root_from_inclusion<'py>(
    py: Python<'py>,
    leaf: &[u8],
    index: u64,
    size: u64,
    proof: Vec<Vec<u8>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let root = merkle::root_from_inclusion(&hash(leaf, "leaf hash")?, index, size, &hashes(&proof, "proof hash")?)
        .map_err(|e| PyValueError::new_err(e.0))?;
    Ok(PyBytes::new(py, &root))
}

/// Raises unless `leaf` is at `index` of the tree `(size, root)`.
#[pyfunction]
fn verify_inclusion(leaf: &[u8], index: u64, size: u64, proof: Vec<Vec<u8>>, root: &[u8]) -> PyResult<()> {
    merkle::verify_inclusion(
        &hash(leaf, "leaf hash")?,
        index,
        size,
        &hashes(&proof, "proof hash")?,
        &hash(root, "root hash")?,
    )
    .map_err(|e| PyValueError::new_err(e.0))
}

/// Raises unless `(new_size, new_root)` extends `(old_size, old_root)`.
#[pyfunction]
fn verify_consistency(
    old_size: u64,
    new_size: u64,
    proof: Vec<Vec<u8>>,
    old_root: &[u8],
    new_root: &[u8],
) -> PyResult<()> {
    merkle::verify_consistency(
        old_size,
        new_size,
        &hashes(&proof, "proof hash")?,
        &hash(old_root, "old root")?,
        &hash(new_root, "new root")?,
    )
    .map_err(|e| PyValueError::new_err(e.0))
}

/// Leaf hashes, emitted nodes (concatenated), new peaks.
type Extended<'py> = (Vec<Bound<'py, PyBytes>>, Bound<'py, PyBytes>, Vec<Bound<'py, PyBytes>>);

fn peaks_of(size: u64, peaks: Vec<Vec<u8>>) -> PyResult<Peaks> {
    let peaks = hashes(&peaks, "a peak")?;
    if peaks.len() != size.count_ones() as usize {
        return Err(PyValueError::new_err("peaks do not match the size"));
    }
    Ok(Peaks { size, peaks })
}

/// Appends `leaves` (entry bytes, hashed here) to the tree of `size` leaves with
/// `peaks`; returns `(leaf_hashes, nodes, new_peaks)`, `nodes` being every node
/// the leaves complete, post-order, concatenated (32 bytes each).
#[pyfunction]
fn extend<'py>(
    py: Python<'py>,
    size: u64,
    peaks: Vec<Vec<u8>>,
    leaves: Vec<Bound<'py, PyBytes>>,
) -> PyResult<Extended<'py>> {
    let mut tree = peaks_of(size, peaks)?;
    let data: Vec<&[u8]> = leaves.iter().map(|b| b.as_bytes()).collect();
    let (hashes, nodes) = py.detach(|| tree.extend(data.iter().copied()));
    Ok((to_list(py, &hashes), PyBytes::new(py, nodes.as_flattened()), to_list(py, &tree.peaks)))
}

/// Appends one leaf hash; returns `(nodes, new_peaks)` (`nodes` concatenated, post-order).
#[pyfunction]
fn append<'py>(
    py: Python<'py>,
    size: u64,
    peaks: Vec<Vec<u8>>,
    leaf: &[u8],
) -> PyResult<(Bound<'py, PyBytes>, Vec<Bound<'py, PyBytes>>)> {
    let mut tree = peaks_of(size, peaks)?;
    let mut emitted = Vec::new();
    tree.append(hash(leaf, "leaf hash")?, &mut emitted);
    Ok((PyBytes::new(py, emitted.as_flattened()), to_list(py, &tree.peaks)))
}

/// The root of the tree with these peaks.
#[pyfunction]
fn peaks_root<'py>(py: Python<'py>, size: u64, peaks: Vec<Vec<u8>>) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &peaks_of(size, peaks)?.root()))
}

/// Adds the submodule to `parent` (and `sys.modules`).
pub fn register(parent: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = parent.py();
    let m = PyModule::new(py, "merkle")?;
    for f in [
        wrap_pyfunction!(leaf_hash, &m)?,
        wrap_pyfunction!(node_hash, &m)?,
        wrap_pyfunction!(node_position, &m)?,
        wrap_pyfunction!(node_count, &m)?,
        wrap_pyfunction!(range_hash, &m)?,
        wrap_pyfunction!(root_hash, &m)?,
        wrap_pyfunction!(inclusion_proof, &m)?,
        wrap_pyfunction!(consistency_proof, &m)?,
        wrap_pyfunction!(root_from_inclusion, &m)?,
        wrap_pyfunction!(verify_inclusion, &m)?,
        wrap_pyfunction!(verify_consistency, &m)?,
        wrap_pyfunction!(extend, &m)?,
        wrap_pyfunction!(append, &m)?,
        wrap_pyfunction!(peaks_root, &m)?,
    ] {
        m.add_function(f)?;
    }
    m.add("EMPTY_ROOT", PyBytes::new(py, &merkle::empty_root()))?;
    parent.add_submodule(&m)?;
    py.import("sys")?.getattr("modules")?.set_item("proof_messenger._core.merkle", &m)?;
    Ok(())
}

//! `merkle_extend`: the audit log's batch append (leaf hashes and tree nodes) in one call.
use proof_messenger_core::merkle::{Hash, Peaks};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Leaf hashes, emitted nodes (concatenated), new peaks.
type Extended<'py> = (Vec<Bound<'py, PyBytes>>, Bound<'py, PyBytes>, Vec<Bound<'py, PyBytes>>);

/// Appends `leaves` (entry bytes) to the tree of `size` leaves with `peaks`;
/// returns `(leaf_hashes, nodes, new_peaks)`, `nodes` being every node the
/// leaves complete, post-order, concatenated (32 bytes each).
#[pyfunction]
pub fn merkle_extend<'py>(
    py: Python<'py>,
    size: u64,
    peaks: Vec<Vec<u8>>,
    leaves: Vec<Bound<'py, PyBytes>>,
) -> PyResult<Extended<'py>> {
    let peaks: Vec<Hash> = peaks
        .into_iter()
        .map(|p| Hash::try_from(p.as_slice()).map_err(|_| PyValueError::new_err("a peak must be 32 bytes")))
        .collect::<PyResult<_>>()?;
    if peaks.len() != size.count_ones() as usize {
        return Err(PyValueError::new_err("peaks do not match the size"));
    }
    let mut tree = Peaks { size, peaks };
    let data: Vec<&[u8]> = leaves.iter().map(|b| b.as_bytes()).collect();
    let (hashes, nodes) = py.detach(|| tree.extend(data.iter().copied()));
    Ok((
        hashes.iter().map(|h| PyBytes::new(py, h)).collect(),
        PyBytes::new(py, nodes.as_flattened()),
        tree.peaks.iter().map(|h| PyBytes::new(py, h)).collect(),
    ))
}

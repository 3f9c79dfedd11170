//! `NonceIndex`: which nonce claims a relay process knows to be consumed.
//!
//! The relay's SQLite nonce store appends every accepted claim to a table in
//! insertion order (cheap: the new rows land on the last B-tree page) and
//! answers "seen before?" from this index instead of a unique key on the table.
//! A unique index over random 128-bit keys dirties about one page per claim
//! (measured: ~33 ms of a 1,000-proof batch once the table held 100k rows); a
//! hash map answers in ~50 ns and holds a claim in about 30 bytes.
//!
//! The index is a cache of the table, never the authority: the store fills
//! it from the table inside the write transaction that decides (see
//! `proof_messenger.relay.replay`). A key is a 16-byte claim digest; an entry
//! counts as seen until its expiry (Unix ms), as the table's row does.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Bytes in a claim key.
const KEY_BYTES: usize = 16;

type Key = [u8; KEY_BYTES];

/// Consumed nonce claims (16-byte keys) with the time each stops counting.
#[pyclass(module = "proof_messenger._core", frozen)]
pub struct NonceIndex {
    // std's RandomState: keyed SipHash, so crafted nonces cannot degrade the map.
    entries: Mutex<HashMap<Key, u64>>,
}

#[pymethods]
impl NonceIndex {
    #[new]
    fn new() -> Self {
        Self { entries: Mutex::new(HashMap::new()) }
    }

    /// Records `keys` (concatenated 16-byte keys) with their expiries; an entry
    /// already present keeps the later expiry. Entries expired at `now_ms` are skipped.
    fn add(&self, keys: &[u8], expires_at_ms: Vec<u64>, now_ms: u64) -> PyResult<()> {
        let count = expires_at_ms.len();
        let keys = split(keys, count)?;
        let mut map = self.lock();
        map.reserve(count);
        for (key, expiry) in keys.zip(expires_at_ms) {
            if expiry < now_ms {
                continue;
            }
            let slot = map.entry(key).or_insert(expiry);
            *slot = (*slot).max(expiry);
        }
        Ok(())
    }

    /// For each key (concatenated 16-byte keys): is it recorded and unexpired at `now_ms`?
    fn seen(&self, keys: &[u8], now_ms: u64) -> PyResult<Vec<bool>> {
        let count = keys.len() / KEY_BYTES;
        let keys = split(keys, count)?;
        let map = self.lock();
        Ok(keys.map(|key| map.get(&key).is_some_and(|&expiry| expiry >= now_ms)).collect())
    }

    /// Forgets entries expired at `now_ms`; returns how many.
    fn purge(&self, now_ms: u64) -> usize {
        let mut map = self.lock();
        let before = map.len();
        map.retain(|_, expiry| *expiry >= now_ms);
        before - map.len()
    }

    /// Forgets everything (the store reloads from its table).
    fn clear(&self) {
        self.lock().clear();
    }

    fn __len__(&self) -> usize {
        self.lock().len()
    }
}

impl NonceIndex {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, u64>> {
        // A panic cannot happen while the lock is held (no user code runs under it);
        // should one ever poison it, the map is still consistent: keep using it.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `count` keys of 16 bytes from `bytes`, which must hold exactly that many.
fn split(bytes: &[u8], count: usize) -> PyResult<impl Iterator<Item = Key> + '_> {
    if bytes.len() != count * KEY_BYTES {
        return Err(PyValueError::new_err(format!(
            "expected {count} keys of {KEY_BYTES} bytes ({} bytes), got {} bytes",
            count * KEY_BYTES,
            bytes.len()
        )));
    }
    Ok(bytes.chunks_exact(KEY_BYTES).map(|c| {
        let mut key = [0u8; KEY_BYTES];
        key.copy_from_slice(c);
        key
    }))
}

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
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use sha2::{Digest as _, Sha256};

use crate::verify::VerificationResult;

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

/// One accepted proof's claim on a nonce: keep it until `expires_at_ms`
/// (`proof_messenger.relay.replay.Claim`). Native, like `Decision`: the relay
/// makes one per accepted proof, a group's in one call (`from_results`).
#[pyclass(frozen, eq, hash, module = "proof_messenger.relay.replay", name = "Claim")]
#[derive(PartialEq, Eq, Hash)]
pub struct Claim {
    #[pyo3(get)]
    subject: String,
    #[pyo3(get)]
    audience: String,
    #[pyo3(get)]
    nonce: String,
    #[pyo3(get)]
    expires_at_ms: i64,
}

#[pymethods]
impl Claim {
    #[new]
    fn new(subject: String, audience: String, nonce: String, expires_at_ms: i64) -> Self {
        Self { subject, audience, nonce, expires_at_ms }
    }

    /// The claims of the accepted results among `results` (indices `accepted`):
    /// subject and nonce from the proof, the audience of `owners[k]` (`.audience`),
    /// kept until the proof expires (or `now_ms`) plus `skew_ms`.
    #[staticmethod]
    #[pyo3(signature = (results, owners, accepted, *, now_ms, skew_ms))]
    fn from_results(
        results: Vec<Bound<'_, VerificationResult>>,
        owners: Vec<Bound<'_, PyAny>>,
        accepted: Vec<usize>,
        now_ms: i64,
        skew_ms: i64,
    ) -> PyResult<Vec<Self>> {
        let mut out = Vec::with_capacity(accepted.len());
        let mut last_owner: Option<(&Bound<'_, PyAny>, String)> = None;
        for k in accepted {
            let (Some(res), Some(owner)) = (results.get(k), owners.get(k)) else {
                return Err(PyValueError::new_err(format!("index {k} is out of range")));
            };
            let r = res.get();
            let proof = match r.parsed() {
                Some(p) if r.is_valid() => p,
                _ => return Err(PyValueError::new_err(format!("result {k} was not accepted"))),
            };
            let audience = match &last_owner {
                Some((prev, audience)) if prev.is(owner) => audience.clone(),
                _ => {
                    let audience: String = owner.getattr(intern!(owner.py(), "audience"))?.extract()?;
                    last_owner = Some((owner, audience.clone()));
                    audience
                }
            };
            let expiry = match r.expiry_ms().filter(|&e| e != 0) {
                None => now_ms,
                Some(e) => i64::try_from(e).map_err(|_| PyValueError::new_err("expiry out of range"))?,
            };
            let subject =
                proof.envelope().subject().ok_or_else(|| PyValueError::new_err("an accepted proof names a subject"))?;
            out.push(Self {
                subject: subject.to_owned(),
                audience,
                nonce: proof.envelope().nonce().to_owned(),
                expires_at_ms: expiry.saturating_add(skew_ms),
            });
        }
        Ok(out)
    }

    /// The claims' 16-byte keys, concatenated: SHA-256(SHA-256(subject) || nonce),
    /// truncated (the SQLite store's `claim_key`). 128 bits: a collision (two claims
    /// taken for one) needs ~2^64 claims.
    #[staticmethod]
    fn keys<'py>(py: Python<'py>, claims: Vec<Bound<'py, Claim>>) -> Bound<'py, PyBytes> {
        let mut out = Vec::with_capacity(claims.len() * KEY_BYTES);
        let mut scope: Option<(&str, [u8; 32])> = None;
        for claim in &claims {
            let c = claim.get();
            let digest = match scope {
                Some((subject, digest)) if subject == c.subject => digest,
                _ => {
                    let digest: [u8; 32] = Sha256::digest(c.subject.as_bytes()).into();
                    scope = Some((&c.subject, digest));
                    digest
                }
            };
            let key = Sha256::new().chain_update(digest).chain_update(c.nonce.as_bytes()).finalize();
            out.extend(key.iter().take(KEY_BYTES));
        }
        PyBytes::new(py, &out)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let r = |s: &str| PyString::new(py, s).repr().map(|r| r.to_string());
        Ok(format!(
            "Claim(subject={}, audience={}, nonce={}, expires_at_ms={})",
            r(&self.subject)?,
            r(&self.audience)?,
            r(&self.nonce)?,
            self.expires_at_ms
        ))
    }
}

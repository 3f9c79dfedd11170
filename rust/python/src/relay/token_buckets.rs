//! `TokenBuckets`: the relay crate's keyed token buckets.
use proof_messenger_relay::token_buckets::TokenBuckets as RelayTokenBuckets;
use pyo3::prelude::*;

use super::value_error;

/// Token buckets by key, one per quota `(amount, window_seconds)`; a hit must fit every quota.
#[pyclass(frozen, module = "proof_messenger._core.relay", name = "TokenBuckets")]
pub struct TokenBuckets {
    inner: RelayTokenBuckets,
}

#[pymethods]
impl TokenBuckets {
    #[new]
    fn new(quotas: Vec<(u32, f64)>) -> PyResult<Self> {
        RelayTokenBuckets::new(&quotas).map(|inner| TokenBuckets { inner }).map_err(value_error)
    }
    /// Takes `cost` tokens for `key`; 0 if they were there, else the whole seconds to wait.
    #[pyo3(signature = (key, cost = 1))]
    fn hit(&self, key: &str, cost: u32) -> u64 {
        self.inner.hit(key, cost)
    }
    /// `hit` for each `(key, cost)`, in order.
    fn hit_many(&self, items: Vec<(String, u32)>) -> Vec<u64> {
        items.iter().map(|(key, cost)| self.inner.hit(key, *cost)).collect()
    }
    /// One unit per item (a key may repeat): a key's items are charged at once when they
    /// fit, else one by one, so exactly the items over the limit wait. Seconds per item.
    fn hit_grouped(&self, keys: Vec<String>) -> Vec<u64> {
        self.inner.hit_grouped(&keys)
    }
    /// Forgets keys whose buckets are full again.
    fn retain_recent(&self) {
        self.inner.retain_recent();
    }
    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

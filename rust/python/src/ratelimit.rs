//! `TokenBuckets`: keyed token-bucket rate limits for the relay.
//!
//! A thin binding of the `governor` crate (GCRA: the token bucket's exact
//! equivalent, one timestamp per key, all-or-nothing for a cost of n). The
//! relay charges one unit per proof per client and per subject; in Python
//! (the `limits` library) that bookkeeping was a fifth of a batch's CPU time,
//! here it is a hash-map update. Shared (Redis) limits stay on `limits`.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

struct Bucket {
    limiter: DefaultKeyedRateLimiter<String>,
    window_s: f64,
}

/// Token buckets by key, one per quota; a hit must fit every quota.
///
/// Each quota is `(amount, window_seconds)`: a bucket of `amount` tokens,
/// refilled at `amount` per window (so "60/minute" allows a burst of 60,
/// then one per second).
#[pyclass(module = "proof_messenger._core", frozen)]
pub struct TokenBuckets {
    buckets: Vec<Bucket>,
    clock: DefaultClock,
}

#[pymethods]
impl TokenBuckets {
    #[new]
    fn new(quotas: Vec<(u32, f64)>) -> PyResult<Self> {
        let mut buckets = Vec::with_capacity(quotas.len());
        for (amount, window_s) in quotas {
            let burst = NonZeroU32::new(amount).ok_or_else(|| PyValueError::new_err("amount must be >= 1"))?;
            if !(window_s.is_finite() && window_s > 0.0) {
                return Err(PyValueError::new_err("window must be a positive number of seconds"));
            }
            let period = Duration::try_from_secs_f64(window_s / f64::from(amount))
                .map_err(|_| PyValueError::new_err("window out of range"))?;
            let quota = Quota::with_period(period)
                .ok_or_else(|| PyValueError::new_err("window too short for the amount"))?
                .allow_burst(burst);
            buckets.push(Bucket { limiter: RateLimiter::keyed(quota), window_s });
        }
        Ok(Self { buckets, clock: DefaultClock::default() })
    }

    /// Takes `cost` tokens for `key` from every bucket; returns 0 if they were
    /// there, else the whole seconds to wait (at least 1; a full window when
    /// `cost` exceeds a bucket's size, which can never pass).
    #[pyo3(signature = (key, cost = 1))]
    fn hit(&self, key: String, cost: u32) -> u64 {
        self.take(&key, cost)
    }

    /// `hit` for each `(key, cost)`, in order.
    fn hit_many(&self, items: Vec<(String, u32)>) -> Vec<u64> {
        items.iter().map(|(key, cost)| self.take(key, *cost)).collect()
    }

    /// One unit per item of `keys` (a key may repeat): each distinct key is charged
    /// its count at once when that fits, else unit by unit in order, so exactly the
    /// items over the limit are refused. Returns the seconds to wait per item (0: allowed).
    fn hit_grouped(&self, keys: Vec<String>) -> Vec<u64> {
        let mut waits = vec![0; keys.len()];
        let mut positions: HashMap<&String, Vec<usize>> = HashMap::new();
        let mut order: Vec<&String> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            positions
                .entry(key)
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push(i);
        }
        let mut retry: Vec<&String> = Vec::new();
        for key in &order {
            let at = positions.get(key).map_or(&[][..], Vec::as_slice);
            let wait = self.take(key, u32::try_from(at.len()).unwrap_or(u32::MAX));
            match at {
                _ if wait == 0 => {}
                [single] => {
                    if let Some(w) = waits.get_mut(*single) {
                        *w = wait;
                    }
                }
                _ => retry.push(key),
            }
        }
        for key in retry {
            for &i in positions.get(key).map_or(&[][..], Vec::as_slice) {
                if let Some(w) = waits.get_mut(i) {
                    *w = self.take(key, 1);
                }
            }
        }
        waits
    }

    /// Forgets keys whose buckets are full again (bounded memory under many keys).
    fn retain_recent(&self) {
        for b in &self.buckets {
            b.limiter.retain_recent();
        }
    }

    fn __len__(&self) -> usize {
        self.buckets.first().map_or(0, |b| b.limiter.len())
    }
}

impl TokenBuckets {
    fn take(&self, key: &String, cost: u32) -> u64 {
        let Some(n) = NonZeroU32::new(cost) else { return 0 };
        for b in &self.buckets {
            match b.limiter.check_key_n(key, n) {
                Ok(Ok(())) => {}
                Ok(Err(not_until)) => return ceil_secs(not_until.wait_time_from(self.clock.now()).as_secs_f64()),
                Err(_insufficient_capacity) => return ceil_secs(b.window_s),
            }
        }
        0
    }
}

fn ceil_secs(s: f64) -> u64 {
    // Saturating float-to-int cast; windows are validated finite and positive.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = s.ceil() as u64;
    whole.max(1)
}

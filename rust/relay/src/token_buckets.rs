//! `TokenBuckets`: keyed token-bucket rate limits, and how a group of proofs is charged.
//!
//! The `governor` crate's GCRA (the token bucket's exact equivalent, one
//! timestamp per key, all-or-nothing for a cost of n). The relay charges one
//! unit per proof per client and per subject; in Python (the `limits`
//! library) that bookkeeping was a fifth of a batch's CPU time, here it is a
//! hash-map update. Shared (Redis) limits stay on `limits`.
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::errors::RecordError;

struct Bucket {
    limiter: DefaultKeyedRateLimiter<String>,
    window_s: f64,
}

/// Token buckets by key, one per quota; a hit must fit every quota.
///
/// Each quota is `(amount, window_seconds)`: a bucket of `amount` tokens,
/// refilled at `amount` per window (so "60/minute" allows a burst of 60,
/// then one per second).
pub struct TokenBuckets {
    buckets: Vec<Bucket>,
    clock: DefaultClock,
}

impl TokenBuckets {
    /// Buckets for the quotas `(amount, window_seconds)`.
    pub fn new(quotas: &[(u32, f64)]) -> Result<TokenBuckets, RecordError> {
        let mut buckets = Vec::with_capacity(quotas.len());
        for &(amount, window_s) in quotas {
            let burst = NonZeroU32::new(amount).ok_or_else(|| RecordError::Invalid("amount must be >= 1".into()))?;
            if !(window_s.is_finite() && window_s > 0.0) {
                return Err(RecordError::Invalid("window must be a positive number of seconds".into()));
            }
            let period = Duration::try_from_secs_f64(window_s / f64::from(amount))
                .map_err(|_| RecordError::Invalid("window out of range".into()))?;
            let quota = Quota::with_period(period)
                .ok_or_else(|| RecordError::Invalid("window too short for the amount".into()))?
                .allow_burst(burst);
            buckets.push(Bucket { limiter: RateLimiter::keyed(quota), window_s });
        }
        Ok(TokenBuckets { buckets, clock: DefaultClock::default() })
    }

    /// Takes `cost` tokens for `key` from every bucket; returns 0 if they were
    /// there, else the whole seconds to wait (at least 1; a full window when
    /// `cost` exceeds a bucket's size, which can never pass).
    pub fn hit(&self, key: &str, cost: u32) -> u64 {
        let Some(n) = NonZeroU32::new(cost) else { return 0 };
        let key = key.to_owned();
        for b in &self.buckets {
            match b.limiter.check_key_n(&key, n) {
                Ok(Ok(())) => {}
                Ok(Err(not_until)) => return ceil_secs(not_until.wait_time_from(self.clock.now()).as_secs_f64()),
                Err(_insufficient_capacity) => return ceil_secs(b.window_s),
            }
        }
        0
    }

    /// One unit per item of `keys` (a key may repeat): each distinct key is charged
    /// its count at once when that fits, else unit by unit in order, so exactly the
    /// items over the limit are refused. Returns the seconds to wait per item (0: allowed).
    pub fn hit_grouped<S: AsRef<str>>(&self, keys: &[S]) -> Vec<u64> {
        let mut waits = vec![0; keys.len()];
        let mut positions: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut order: Vec<&str> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let key = key.as_ref();
            positions
                .entry(key)
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push(i);
        }
        let mut retry: Vec<&str> = Vec::new();
        for key in order {
            let at = positions.get(key).map_or(&[][..], Vec::as_slice);
            let wait = self.hit(key, u32::try_from(at.len()).unwrap_or(u32::MAX));
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
                    *w = self.hit(key, 1);
                }
            }
        }
        waits
    }

    /// Forgets keys whose buckets are full again (bounded memory under many keys).
    pub fn retain_recent(&self) {
        for b in &self.buckets {
            b.limiter.retain_recent();
        }
    }

    /// Keys tracked (by the first quota).
    pub fn len(&self) -> usize {
        self.buckets.first().map_or(0, |b| b.limiter.len())
    }

    /// No key tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn ceil_secs(s: f64) -> u64 {
    // Saturating float-to-int cast; windows are validated finite and positive.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = s.ceil() as u64;
    whole.max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_asks_to_wait() {
        let b = TokenBuckets::new(&[(3, 60.0)]).unwrap();
        assert_eq!([b.hit("k", 1), b.hit("k", 2)], [0, 0]);
        let wait = b.hit("k", 1);
        assert!((1..=20).contains(&wait), "one token per 20 s: {wait}");
        assert_eq!(b.hit("other", 3), 0, "keys are independent");
        assert_eq!(b.hit("k", 0), 0, "nothing to take");
        assert_eq!(b.hit("new", 4), 60, "more than the bucket holds: a whole window");
    }

    #[test]
    fn every_quota_must_fit() {
        let b = TokenBuckets::new(&[(10, 1.0), (2, 3600.0)]).unwrap();
        assert_eq!([b.hit("k", 1), b.hit("k", 1)], [0, 0]);
        assert!(b.hit("k", 1) > 1, "the hourly quota refuses what the per-second one allows");
    }

    #[test]
    fn grouped_charges_refuse_exactly_the_items_over_the_limit() {
        let b = TokenBuckets::new(&[(2, 60.0)]).unwrap();
        let waits = b.hit_grouped(&["a", "b", "a", "a", "c", "a"]);
        // "a" has 4 items: 4 at once does not fit, so one by one: the first two pass.
        assert_eq!(waits.iter().map(|&w| w > 0).collect::<Vec<_>>(), [false, false, false, true, false, true]);
        let waits = b.hit_grouped(&["b", "b"]);
        assert_eq!(waits.iter().map(|&w| w > 0).collect::<Vec<_>>(), [false, true], "one of b's two tokens is used");
    }

    #[test]
    fn a_group_that_fits_is_charged_once() {
        let b = TokenBuckets::new(&[(4, 60.0)]).unwrap();
        assert_eq!(b.hit_grouped(&["a", "a"]), [0, 0]);
        assert_eq!(b.hit("a", 2), 0, "two of the four tokens are left");
        assert!(b.hit("a", 1) > 0);
    }

    #[test]
    fn keys_are_tracked_until_their_buckets_are_full_again() {
        let b = TokenBuckets::new(&[(1, 3600.0)]).unwrap();
        assert!(b.is_empty());
        assert_eq!([b.hit("a", 1), b.hit("b", 1)], [0, 0]);
        assert_eq!((b.len(), b.is_empty()), (2, false));
        b.retain_recent();
        assert_eq!(b.len(), 2, "an hour from full: kept");
        // A bucket of one token refilled every 20 ms is full again after the sleep (a
        // lower bound on elapsed time, not a timing assertion).
        let quick = TokenBuckets::new(&[(1, 0.02)]).unwrap();
        assert_eq!(quick.hit("a", 1), 0);
        assert_eq!(quick.len(), 1);
        std::thread::sleep(Duration::from_millis(100));
        quick.retain_recent();
        assert!(quick.is_empty(), "full again: forgotten");
    }

    #[test]
    fn bad_quotas_are_refused() {
        for quota in [(0, 1.0), (1, 0.0), (1, -1.0), (1, f64::NAN), (1, f64::INFINITY), (u32::MAX, 1e-12)] {
            assert!(TokenBuckets::new(&[quota]).is_err(), "{quota:?}");
        }
        assert!(TokenBuckets::new(&[]).unwrap().is_empty());
    }
}

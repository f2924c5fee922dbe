//! The one backoff of the adapters and tools: exponential, jittered, capped.
//!
//! The ceiling of retry `n` (1 for the first retry, i.e. the second attempt) is
//! `base · 2^(n-1)`, at most `cap`; the pause is drawn uniformly from `[ceiling / floor,
//! ceiling]` in whole milliseconds, so `floor = 1` is a fixed pause and a large `floor` is
//! (nearly) full jitter. Each kind of retry has its constants: [`DAY_CONFLICT`] here, SQS batch
//! entries' in [`super::sqs_batch`]. Calls the SDK retries by itself are left to the SDK's retry
//! configuration.

use std::time::Duration;

/// How long to wait before a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry.
    pub base: Duration,
    /// No pause is longer.
    pub cap: Duration,
    /// The shortest pause is the ceiling divided by this (1: no jitter).
    pub floor: u32,
}

/// A read-merge-write started again after a conflict (and a quarantine PUT after a 409):
/// 200 ms, 400 ms, … up to 5 s, at least a quarter of that.
pub const DAY_CONFLICT: Backoff = Backoff {
    base: Duration::from_millis(200),
    cap: Duration::from_secs(5),
    floor: 4,
};

impl Backoff {
    /// The pause before retry `retry` (1 for the first retry; 0 is treated as 1).
    pub fn delay(&self, retry: u32) -> Duration {
        let shift = retry.saturating_sub(1).min(31);
        let base_ms = u64::try_from(self.base.as_millis()).unwrap_or(u64::MAX);
        let cap_ms = u64::try_from(self.cap.as_millis()).unwrap_or(u64::MAX);
        let ceiling = base_ms.saturating_mul(1 << shift).min(cap_ms);
        let lowest = ceiling / u64::from(self.floor.max(1));
        Duration::from_millis(fastrand::u64(lowest..=ceiling))
    }

    pub async fn pause(&self, retry: u32) {
        tokio::time::sleep(self.delay(retry)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(b: Backoff, retry: u32) -> (Duration, Duration) {
        let mut lo = Duration::MAX;
        let mut hi = Duration::ZERO;
        for _ in 0..2000 {
            let d = b.delay(retry);
            lo = lo.min(d);
            hi = hi.max(d);
        }
        (lo, hi)
    }

    #[test]
    fn a_day_conflict_waits_a_quarter_to_all_of_a_doubling_ceiling() {
        let ms = Duration::from_millis;
        // 200 ms at the first retry, a quarter to all of it; never above 5 s.
        let (lo, hi) = bounds(DAY_CONFLICT, 1);
        assert!(lo >= ms(50) && hi <= ms(200), "{lo:?} {hi:?}");
        let (lo, hi) = bounds(DAY_CONFLICT, 9);
        assert!(lo >= ms(1250) && hi <= ms(5000), "{lo:?} {hi:?}");
    }

    #[test]
    fn huge_retries_do_not_overflow() {
        assert!(DAY_CONFLICT.delay(u32::MAX) <= Duration::from_secs(5));
    }
}

//! OAuth 2.1 §2.4.1 brute-force protection for client authentication, built so that it cannot be
//! turned against a client.
//!
//! The old design locked a client after `max` failures: anyone who knew a `client_id` (it is
//! public) could then make the client's *correct* secret fail (review finding 1). Here:
//!
//! - a correct credential always authenticates: nothing is consulted before it is checked;
//! - failed authentications are counted per `client_id` in the function's own memory, never in
//!   storage, so a failure costs no write at all; past `max` failures within `window` seconds,
//!   further *failures* are answered 429 `invalid_client` with `Retry-After` (the window's end)
//!   instead of 401, telling a misconfigured client (or a guesser) to stop;
//! - a public client is never counted: it has no secret to guess;
//! - a secret rotation cannot lock a client out of its new secret, since nothing locks.
//!
//! Every secret Portcullis issues carries 256 random bits (RFC 6749 §10.10), so online guessing
//! is hopeless whatever the limit; the limit bounds what failures cost and makes them loud
//! (`security_event = "client_auth_throttled"`). Counts are per function instance: with N warm
//! instances a guesser gets N × `max` answers of 401 per window; API Gateway throttling bounds the
//! rate per route (`docs/security.md`).
use crate::ids::ClientId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How failed client authentications are limited (OAuth 2.1 §2.4.1): past `max` failures
/// within `window` seconds, further failures get 429 until the window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max: u32,
    pub window: u64,
}

/// The most `client_id`s one instance tracks at once: a flood of made-up ids cannot grow the
/// map without bound (expired windows go first, then the oldest).
pub const MAX_TRACKED: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Window {
    end: u64,
    failures: u32,
}

/// The policy and this instance's failure counts. Cloning shares the counts.
#[derive(Debug, Clone)]
pub struct FailureLimit {
    policy: LockoutPolicy,
    windows: Arc<Mutex<HashMap<ClientId, Window>>>,
}

impl PartialEq for FailureLimit {
    /// Two limits are the same setting when their policies are.
    fn eq(&self, other: &Self) -> bool {
        self.policy == other.policy
    }
}

impl FailureLimit {
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            windows: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    pub fn policy(&self) -> LockoutPolicy {
        self.policy
    }

    /// Counts one failed authentication of `client_id` at `now`. `Some(seconds)` when this
    /// failure is past the limit: the caller answers 429 with that `Retry-After`.
    pub fn record(&self, client_id: &ClientId, now: u64) -> Option<u64> {
        let Ok(mut windows) = self.windows.lock() else {
            return None;
        };
        if !windows.contains_key(client_id) && windows.len() >= MAX_TRACKED {
            windows.retain(|_, w| w.end > now);
            if windows.len() >= MAX_TRACKED {
                if let Some(oldest) = windows
                    .iter()
                    .min_by_key(|(_, w)| w.end)
                    .map(|(k, _)| k.clone())
                {
                    windows.remove(&oldest);
                }
            }
        }
        let w = windows.entry(client_id.clone()).or_insert(Window {
            end: now + self.policy.window,
            failures: 0,
        });
        if w.end <= now {
            *w = Window {
                end: now + self.policy.window,
                failures: 0,
            };
        }
        w.failures = w.failures.saturating_add(1);
        (w.failures > self.policy.max).then(|| w.end.saturating_sub(now).max(1))
    }

    /// How many `client_id`s are tracked (for tests).
    pub fn tracked(&self) -> usize {
        self.windows.lock().map_or(0, |w| w.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: u32) -> FailureLimit {
        FailureLimit::new(LockoutPolicy { max, window: 300 })
    }

    /// OAuth 2.1 §2.4.1: past `max` failures in the window, failures are answered 429 with the
    /// window's remaining seconds; a new window starts afresh.
    #[test]
    fn failures_past_the_limit_are_throttled_until_the_window_ends() {
        let l = limit(3);
        let c = ClientId::new("c1");
        for _ in 0..3 {
            assert_eq!(l.record(&c, 1000), None);
        }
        assert_eq!(l.record(&c, 1100), Some(200));
        assert_eq!(l.record(&c, 1299), Some(1));
        assert_eq!(l.record(&c, 1300), None, "a new window");
        assert_eq!(l.record(&ClientId::new("c2"), 1300), None, "per client");
    }

    /// A flood of made-up client ids cannot grow one instance's memory without bound.
    #[test]
    fn the_failure_counts_are_bounded_in_memory() {
        let l = limit(1);
        for i in 0..(MAX_TRACKED + 100) {
            l.record(&ClientId::new(format!("c{i}")), 10);
        }
        assert!(l.tracked() <= MAX_TRACKED);
    }
}

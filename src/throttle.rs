//! Failure counting and lockout. A [`Throttle`] remembers recent failures
//! per key (a client address, an account, a conference, a caller number, a
//! gateway connection, the whole gateway) in
//! a sliding window; callers ask [`Throttle::check`] *before* doing any
//! expensive work such as hashing, so a flood of guesses costs us nothing.
//!
//! The state is in memory: a restart forgets recent failures, which costs an
//! attacker one window at most, and keeps joins free of database writes.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::config::ThrottleConfig;

/// What failures are counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    /// A client's network address (as text, so v4 and v6 both fit).
    Address(String),
    /// An account being signed in to (lower-cased e-mail).
    Account(String),
    /// A conference being joined (its id).
    Conference(String),
    /// A phone caller, by the keyed hash of the number (never the number).
    Caller(String),
    /// One telephony gateway connection: all its calls, as one web
    /// address is all its requests.
    GatewayConnection(u64),
    /// The whole telephony gateway, every connection together.
    Gateway,
}

/// The key is locked out until `retry_after` seconds from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locked {
    pub retry_after_secs: u64,
}

/// Above this many keys, a failure first sweeps out expired ones, so the map
/// cannot grow without bound under a spray of addresses.
const SWEEP_ABOVE: usize = 50_000;

/// Sliding-window failure counters.
#[derive(Debug)]
pub struct Throttle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<ThrottleKey, VecDeque<DateTime<Utc>>>>,
}

impl Throttle {
    pub fn new(config: &ThrottleConfig) -> Self {
        Self {
            max_failures: config.max_failures as usize,
            window: Duration::seconds(config.window_secs as i64),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses when any of `keys` has reached the limit within the window.
    pub fn check(&self, keys: &[ThrottleKey], now: DateTime<Utc>) -> Result<(), Locked> {
        let mut map = self.lock();
        let mut worst: Option<DateTime<Utc>> = None;
        for key in keys {
            if let Some(times) = map.get_mut(key) {
                Self::expire(times, now - self.window);
                if times.len() >= self.max_failures {
                    // The key frees up when its oldest counted failure leaves
                    // the window.
                    let until = times[times.len() - self.max_failures] + self.window;
                    worst = Some(worst.map_or(until, |w| w.max(until)));
                }
            }
        }
        match worst {
            Some(until) => Err(Locked {
                retry_after_secs: (until - now).num_seconds().max(1) as u64,
            }),
            None => Ok(()),
        }
    }

    /// Counts one failure against each of `keys`.
    pub fn record_failure(&self, keys: &[ThrottleKey], now: DateTime<Utc>) {
        let mut map = self.lock();
        if map.len() > SWEEP_ABOVE {
            let horizon = now - self.window;
            map.retain(|_, times| {
                Self::expire(times, horizon);
                !times.is_empty()
            });
        }
        for key in keys {
            let times = map.entry(key.clone()).or_default();
            Self::expire(times, now - self.window);
            times.push_back(now);
            // Older entries beyond the limit cannot change any answer.
            while times.len() > self.max_failures {
                times.pop_front();
            }
        }
    }

    /// Forgets the failures of `keys` (after a success for an account).
    pub fn clear(&self, keys: &[ThrottleKey]) {
        let mut map = self.lock();
        for key in keys {
            map.remove(key);
        }
    }

    fn expire(times: &mut VecDeque<DateTime<Utc>>, horizon: DateTime<Utc>) {
        while times.front().is_some_and(|t| *t <= horizon) {
            times.pop_front();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ThrottleKey, VecDeque<DateTime<Utc>>>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (every update is a single push or pop), so poisoning is ignored.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max: u32, window: u64) -> Throttle {
        Throttle::new(&ThrottleConfig {
            max_failures: max,
            window_secs: window,
        })
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn locks_after_max_failures_and_frees_after_the_window() {
        let t = throttle(3, 60);
        let k = [ThrottleKey::Address("10.0.0.1".into())];
        for s in 0..3 {
            assert!(t.check(&k, at(s)).is_ok());
            t.record_failure(&k, at(s));
        }
        let locked = t.check(&k, at(10)).unwrap_err();
        assert_eq!(locked.retry_after_secs, 50);
        assert!(t.check(&k, at(59)).is_err());
        assert!(t.check(&k, at(60)).is_ok(), "first failure left the window");
    }

    #[test]
    fn keys_are_independent_and_any_locked_key_refuses() {
        let t = throttle(2, 60);
        let a = ThrottleKey::Address("a".into());
        let c = ThrottleKey::Conference("c".into());
        t.record_failure(&[a.clone(), c.clone()], at(0));
        t.record_failure(std::slice::from_ref(&c), at(1));
        assert!(t.check(std::slice::from_ref(&a), at(2)).is_ok());
        assert!(t.check(&[a.clone(), c.clone()], at(2)).is_err());
        t.clear(std::slice::from_ref(&c));
        assert!(t.check(&[a, c], at(2)).is_ok());
    }
}

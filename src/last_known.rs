//! The last answer the store gave for each access code, used only while
//! the store is unreachable: people can keep joining a conference through
//! a short database outage, checked against the credentials as they were
//! moments before. Any change to codes, PINs or security codes on this
//! node forgets everything, so a reset is never undone by this copy.
//! Entries older than `MAX_AGE` are never used.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::CodeMatch;

const MAX_AGE: Duration = Duration::from_secs(15 * 60);
/// Codes kept at most; past it the copy starts again empty.
const CAPACITY: usize = 10_000;

#[derive(Default)]
pub struct LastKnownCodes {
    map: Mutex<HashMap<String, (CodeMatch, Instant)>>,
}

impl LastKnownCodes {
    pub fn remember(&self, code: &str, found: &CodeMatch) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CAPACITY && !map.contains_key(code) {
            map.clear();
        }
        map.insert(code.to_owned(), (found.clone(), Instant::now()));
    }

    /// What the store last said about `code`, if recent enough.
    pub fn recall(&self, code: &str) -> Option<CodeMatch> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(code)
            .filter(|(_, at)| at.elapsed() < MAX_AGE)
            .map(|(m, _)| m.clone())
    }

    /// Credentials changed: nothing remembered may be used any more.
    pub fn forget_all(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

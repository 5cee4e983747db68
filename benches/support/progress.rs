//! A one-line progress report on stderr for the load tool: what, count of
//! total and rate, redrawn at most ten times a second. (It replaces
//! indicatif, whose `number_prefix` dependency is unmaintained.)

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Progress(Arc<Inner>);

struct Inner {
    what: String,
    len: u64,
    pos: AtomicU64,
    started: Instant,
    drawn: Mutex<Option<Instant>>,
}

impl Progress {
    pub fn new(len: usize, what: &str) -> Self {
        Progress(Arc::new(Inner {
            what: what.to_owned(),
            len: len as u64,
            pos: AtomicU64::new(0),
            started: Instant::now(),
            drawn: Mutex::new(None),
        }))
    }

    pub fn inc(&self, n: u64) {
        self.0.pos.fetch_add(n, Ordering::Relaxed);
        self.draw(false);
    }

    pub fn set_position(&self, pos: u64) {
        self.0.pos.store(pos, Ordering::Relaxed);
        self.draw(false);
    }

    pub fn finish(&self) {
        self.draw(true);
        eprintln!();
    }

    fn draw(&self, always: bool) {
        let mut drawn = self.0.drawn.lock().unwrap();
        let now = Instant::now();
        if !always && drawn.is_some_and(|at| now - at < Duration::from_millis(100)) {
            return;
        }
        *drawn = Some(now);
        let pos = self.0.pos.load(Ordering::Relaxed);
        let secs = (now - self.0.started).as_secs_f64().max(1e-3);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{:>12} {pos}/{} {:.0}/s ",
            self.0.what,
            self.0.len,
            pos as f64 / secs
        );
        let _ = err.flush();
    }
}

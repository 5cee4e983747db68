//! A progress line on standard error: what is being done and how far.
//! A few lines of our own rather than a progress-bar crate and its
//! dependencies (one of them unmaintained).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared by the tasks that advance it.
#[derive(Clone)]
pub struct Progress(Arc<Line>);

pub struct Line {
    what: String,
    len: u64,
    pos: AtomicU64,
    started: Instant,
    /// Milliseconds since `started` at the last line drawn.
    drawn_ms: AtomicU64,
}

impl Progress {
    pub fn new(len: usize, what: &str) -> Self {
        let p = Self(Arc::new(Line {
            what: what.to_owned(),
            len: len as u64,
            pos: AtomicU64::new(0),
            started: Instant::now(),
            drawn_ms: AtomicU64::new(0),
        }));
        p.0.draw(true);
        p
    }

    pub fn inc(&self, n: u64) {
        self.0.pos.fetch_add(n, Ordering::Relaxed);
        self.0.draw(false);
    }

    pub fn set_position(&self, n: u64) {
        self.0.pos.store(n, Ordering::Relaxed);
        self.0.draw(false);
    }

    pub fn finish(&self) {
        self.0.draw(true);
        eprintln!();
    }
}

impl Line {
    /// At most four lines a second, unless `now`.
    fn draw(&self, now: bool) {
        let elapsed = self.started.elapsed();
        let ms = elapsed.as_millis() as u64;
        let last = self.drawn_ms.load(Ordering::Relaxed);
        if !now && ms < last + 250 {
            return;
        }
        self.drawn_ms.store(ms, Ordering::Relaxed);
        let pos = self.pos.load(Ordering::Relaxed);
        let rate = pos as f64 / elapsed.max(Duration::from_millis(1)).as_secs_f64();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{:>12} {pos}/{} ({rate:.0}/s)   ",
            self.what, self.len
        );
        let _ = err.flush();
    }
}
